package ledger.wss4j;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collections;

import org.apache.ws.security.components.crypto.Merlin;

/**
 * The keys and certificates the harness signs and verifies with, as WSS4J's Crypto (Merlin) holds them:
 * a key store in memory, from a PKCS#12 file or from a PEM private key (PKCS#8) and its PEM certificate.
 */
final class Keys {
    /** The alias and password of the signing key in the key store this class builds. */
    static final String ALIAS = "signer";
    static final char[] PASSWORD = "changeit".toCharArray();

    private Keys() {
    }

    /** A Crypto holding the one private key of a PKCS#12 file, re-stored under ALIAS. */
    static Merlin fromPkcs12(Path file, String password) throws IOException, GeneralSecurityException {
        KeyStore pkcs12 = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            pkcs12.load(in, password.toCharArray());
        }
        for (String alias : Collections.list(pkcs12.aliases())) {
            if (pkcs12.isKeyEntry(alias)) {
                PrivateKey key = (PrivateKey) pkcs12.getKey(alias, password.toCharArray());
                return signing(key, pkcs12.getCertificateChain(alias));
            }
        }
        throw new GeneralSecurityException(file + " holds no private key");
    }

    /** A Crypto holding a PEM private key (PKCS#8, unencrypted) and its PEM certificate, under ALIAS. */
    static Merlin fromPem(Path keyFile, Path certificateFile) throws IOException, GeneralSecurityException {
        X509Certificate certificate = certificate(certificateFile);
        byte[] der = pemBody(Files.readString(keyFile, StandardCharsets.US_ASCII), "PRIVATE KEY");
        PrivateKey key = KeyFactory.getInstance(certificate.getPublicKey().getAlgorithm())
                .generatePrivate(new PKCS8EncodedKeySpec(der));
        return signing(key, new Certificate[] {certificate});
    }

    /** A Crypto that trusts exactly this certificate: a signature is accepted only with its key. */
    static Merlin trusting(X509Certificate certificate) throws IOException, GeneralSecurityException {
        KeyStore store = emptyStore();
        store.setCertificateEntry(ALIAS, certificate);
        Merlin crypto = new Merlin();
        crypto.setKeyStore(store);
        return crypto;
    }

    static X509Certificate certificate(Path file) throws IOException, GeneralSecurityException {
        try (InputStream in = Files.newInputStream(file)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    private static Merlin signing(PrivateKey key, Certificate[] chain) throws IOException, GeneralSecurityException {
        KeyStore store = emptyStore();
        store.setKeyEntry(ALIAS, key, PASSWORD, chain);
        Merlin crypto = new Merlin();
        crypto.setKeyStore(store);
        return crypto;
    }

    private static KeyStore emptyStore() throws IOException, GeneralSecurityException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, PASSWORD);
        return store;
    }

    private static byte[] pemBody(String pem, String label) throws GeneralSecurityException {
        String begin = "-----BEGIN " + label + "-----", end = "-----END " + label + "-----";
        int from = pem.indexOf(begin), to = pem.indexOf(end);
        if (from < 0 || to < from) {
            throw new GeneralSecurityException("not a PEM " + label + " (PKCS#8: openssl pkcs8 -topk8 -nocrypt)");
        }
        return Base64.getMimeDecoder().decode(pem.substring(from + begin.length(), to));
    }
}
