package ledger.wss4j;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.transform.TransformerException;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.xml.sax.SAXException;

/** Reading and writing SOAP envelopes as DOM documents, the form WSS4J works on. */
final class Envelopes {
    private Envelopes() {
    }

    static Document read(Path file) throws IOException, ParserConfigurationException, SAXException {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setExpandEntityReferences(false);
        try (InputStream in = Files.newInputStream(file)) {
            return factory.newDocumentBuilder().parse(in);
        }
    }

    /** The document as it is, byte for byte what was signed: no indentation added. */
    static void write(Document document, Path file) throws IOException, TransformerException {
        try (OutputStream out = Files.newOutputStream(file)) {
            TransformerFactory.newInstance().newTransformer().transform(new DOMSource(document), new StreamResult(out));
        }
    }

    /** The envelope's Body, found by its place (the Envelope's last child element), not by an Id. */
    static Element body(Document document) {
        Element body = null;
        for (Node child = document.getDocumentElement().getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child instanceof Element) {
                body = (Element) child;
            }
        }
        if (body == null || !"Body".equals(body.getLocalName())
                || !document.getDocumentElement().getNamespaceURI().equals(body.getNamespaceURI())) {
            throw new IllegalArgumentException("the envelope has no Body as its last element");
        }
        return body;
    }
}
