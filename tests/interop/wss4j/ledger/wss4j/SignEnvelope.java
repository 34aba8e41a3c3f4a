package ledger.wss4j;

import java.nio.file.Path;
import java.util.List;

import org.apache.ws.security.WSConstants;
import org.apache.ws.security.WSEncryptionPart;
import org.apache.ws.security.WSSConfig;
import org.apache.ws.security.components.crypto.Crypto;
import org.apache.ws.security.message.WSSecHeader;
import org.apache.ws.security.message.WSSecSignature;
import org.apache.ws.security.message.WSSecTimestamp;
import org.w3c.dom.Document;

/**
 * Signs a SOAP 1.1 or 1.2 request envelope as Apache CXF's WSS4JOutInterceptor does with the actions
 * "Timestamp Signature": a wsu:Timestamp, the signer's certificate as an X.509 BinarySecurityToken
 * (DirectReference), RSA-SHA256 with SHA-256 digests and exclusive C14N, over the Body and the Timestamp.
 *
 * <pre>java ledger.wss4j.SignEnvelope IN OUT --pkcs12 FILE PASSWORD
 * java ledger.wss4j.SignEnvelope IN OUT --pem KEY CERTIFICATE</pre>
 */
public final class SignEnvelope {
    static final String RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    static final int TIMESTAMP_SECONDS = 300;

    private SignEnvelope() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5 || !(args[2].equals("--pkcs12") || args[2].equals("--pem"))) {
            System.err.println("usage: SignEnvelope IN OUT (--pkcs12 FILE PASSWORD | --pem KEY CERTIFICATE)");
            System.exit(2);
        }
        Crypto crypto = args[2].equals("--pkcs12") ? Keys.fromPkcs12(Path.of(args[3]), args[4])
                : Keys.fromPem(Path.of(args[3]), Path.of(args[4]));
        Document envelope = Envelopes.read(Path.of(args[0]));
        sign(envelope, crypto);
        Envelopes.write(envelope, Path.of(args[1]));
    }

    static void sign(Document envelope, Crypto crypto) throws Exception {
        WSSConfig.init();
        String soapNamespace = envelope.getDocumentElement().getNamespaceURI();

        WSSecHeader header = new WSSecHeader();
        header.setMustUnderstand(true);
        header.insertSecurityHeader(envelope);

        WSSecTimestamp timestamp = new WSSecTimestamp();
        timestamp.setTimeToLive(TIMESTAMP_SECONDS);
        timestamp.build(envelope, header);

        WSSecSignature signature = new WSSecSignature();
        signature.setUserInfo(Keys.ALIAS, new String(Keys.PASSWORD));
        signature.setKeyIdentifierType(WSConstants.BST_DIRECT_REFERENCE);
        signature.setSignatureAlgorithm(RSA_SHA256);
        signature.setDigestAlgo(WSConstants.SHA256);
        signature.setSigCanonicalization(WSConstants.C14N_EXCL_OMIT_COMMENTS);
        signature.setParts(List.of(
                new WSEncryptionPart(WSConstants.ELEM_BODY, soapNamespace, "Element"),
                new WSEncryptionPart(WSConstants.TIMESTAMP_TOKEN_LN, WSConstants.WSU_NS, "Element")));
        signature.build(envelope, crypto, header);
    }
}
