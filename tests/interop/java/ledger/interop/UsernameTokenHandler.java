package ledger.interop;

import java.util.Collections;
import java.util.Set;

import javax.xml.namespace.QName;
import javax.xml.soap.SOAPElement;
import javax.xml.soap.SOAPEnvelope;
import javax.xml.soap.SOAPException;
import javax.xml.soap.SOAPHeader;
import javax.xml.soap.SOAPHeaderElement;
import javax.xml.ws.ProtocolException;
import javax.xml.ws.handler.MessageContext;
import javax.xml.ws.handler.soap.SOAPHandler;
import javax.xml.ws.handler.soap.SOAPMessageContext;

/**
 * Adds a WS-Security 1.0 UsernameToken (PasswordText) to every outbound message, the way JAX-WS
 * integrators do without a WS-Security stack such as Metro's WSIT or Apache WSS4J.
 */
public final class UsernameTokenHandler implements SOAPHandler<SOAPMessageContext> {
    static final String WSSE =
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    static final String PASSWORD_TEXT =
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
    private static final QName SECURITY = new QName(WSSE, "Security", "wsse");

    private final String username;
    private final String password;
    private volatile String envelopeNamespace;

    public UsernameTokenHandler(String username, String password) {
        this.username = username;
        this.password = password;
    }

    @Override
    public boolean handleMessage(SOAPMessageContext context) {
        boolean outbound = (Boolean) context.get(MessageContext.MESSAGE_OUTBOUND_PROPERTY);
        if (!outbound) {
            return true;
        }
        try {
            SOAPEnvelope envelope = context.getMessage().getSOAPPart().getEnvelope();
            envelopeNamespace = envelope.getNamespaceURI();
            SOAPHeader header = envelope.getHeader() != null ? envelope.getHeader() : envelope.addHeader();
            SOAPHeaderElement security = header.addHeaderElement(SECURITY);
            security.setMustUnderstand(true);
            SOAPElement token = security.addChildElement("UsernameToken", "wsse");
            token.addChildElement("Username", "wsse").addTextNode(username);
            SOAPElement passwordElement = token.addChildElement("Password", "wsse");
            passwordElement.setAttribute("Type", PASSWORD_TEXT);
            passwordElement.addTextNode(password);
            context.getMessage().saveChanges();
        } catch (SOAPException e) {
            throw new ProtocolException("could not add the WS-Security header", e);
        }
        return true;
    }

    /** The SOAP envelope namespace of the last request sent: tells SOAP 1.1 from SOAP 1.2 on the wire. */
    public String envelopeNamespace() {
        return envelopeNamespace;
    }

    /** Declares wsse:Security understood, should a response ever carry it with mustUnderstand. */
    @Override
    public Set<QName> getHeaders() {
        return Collections.singleton(SECURITY);
    }

    @Override
    public boolean handleFault(SOAPMessageContext context) {
        return true;
    }

    @Override
    public void close(MessageContext context) {
    }
}
