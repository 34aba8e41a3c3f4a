package ledger.wss4j;

import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

import org.apache.ws.security.WSConstants;
import org.apache.ws.security.WSDataRef;
import org.apache.ws.security.WSSConfig;
import org.apache.ws.security.WSSecurityEngine;
import org.apache.ws.security.WSSecurityEngineResult;
import org.apache.ws.security.WSSecurityException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/**
 * Verifies a signed SOAP envelope (a response of the service) as WSS4J's WSSecurityEngine does, then
 * checks what a CXF client's policy would: the signature is by the given certificate's key, and it
 * covers the envelope's Body (the one found by position: not a copy moved elsewhere) and a Timestamp,
 * which has not expired. Prints OK, or FAILED and the reason (exit status 1).
 *
 * <pre>java ledger.wss4j.VerifyEnvelope IN CERTIFICATE</pre>
 */
public final class VerifyEnvelope {
    private VerifyEnvelope() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: VerifyEnvelope IN CERTIFICATE");
            System.exit(2);
        }
        String problem;
        try {
            problem = problem(Envelopes.read(Path.of(args[0])), Keys.certificate(Path.of(args[1])));
        } catch (WSSecurityException refused) {
            problem = refused.getMessage();
        }
        if (problem == null) {
            System.out.println("OK");
        } else {
            System.out.println("FAILED: " + problem);
            System.exit(1);
        }
    }

    /** Why the envelope's signature is not acceptable, or null when it is. */
    static String problem(Document envelope, X509Certificate signer) throws Exception {
        WSSConfig.init();
        List<WSSecurityEngineResult> results =
                new WSSecurityEngine().processSecurityHeader(envelope, null, null, Keys.trusting(signer));
        if (results == null) {
            return "the envelope has no wsse:Security header";
        }
        WSSecurityEngineResult signature = only(results, WSConstants.SIGN);
        if (signature == null) {
            return "the envelope holds no signature, or more than one";
        }
        // Merlin trusts a certificate that chains to the trusted one too: only the signer's own will do.
        if (!signer.equals(signature.get(WSSecurityEngineResult.TAG_X509_CERTIFICATE))) {
            return "signed with another certificate";
        }
        if (!SignEnvelope.RSA_SHA256.equals(signature.get(WSSecurityEngineResult.TAG_SIGNATURE_METHOD))) {
            return "signed with " + signature.get(WSSecurityEngineResult.TAG_SIGNATURE_METHOD) + ", not RSA-SHA256";
        }
        WSSecurityEngineResult timestamp = only(results, WSConstants.TS);
        if (timestamp == null) {
            return "the envelope has no Timestamp, or more than one";
        }
        List<Element> signed = new ArrayList<>();
        @SuppressWarnings("unchecked")
        List<WSDataRef> references = (List<WSDataRef>) signature.get(WSSecurityEngineResult.TAG_DATA_REF_URIS);
        for (WSDataRef reference : references) {
            signed.add(reference.getProtectedElement());
        }
        if (!signed.contains(Envelopes.body(envelope))) {
            return "the signature does not cover the envelope's Body";
        }
        if (!signed.contains(timestamp.get(WSSecurityEngineResult.TAG_TOKEN_ELEMENT))) {
            return "the signature does not cover the Timestamp";
        }
        return null;
    }

    private static WSSecurityEngineResult only(List<WSSecurityEngineResult> results, int action) {
        WSSecurityEngineResult found = null;
        for (WSSecurityEngineResult result : results) {
            if (((Integer) result.get(WSSecurityEngineResult.TAG_ACTION)) == action) {
                if (found != null) {
                    return null;
                }
                found = result;
            }
        }
        return found;
    }
}
