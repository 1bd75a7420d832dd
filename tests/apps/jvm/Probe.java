// What h2o-3's JVM needs at start: its security configuration (strong randomness, TLS) and a
// home folder. Run from source (`java Probe.java`): a JRE is enough.
public class Probe {
    public static void main(String[] args) throws Exception {
        String random = java.security.SecureRandom.getInstanceStrong().getAlgorithm();
        String tls = String.join(" ",
            javax.net.ssl.SSLContext.getDefault().getDefaultSSLParameters().getProtocols());
        System.out.println("java " + System.getProperty("java.version") + ", " + random
            + " randomness, " + tls + ", user.home " + System.getProperty("user.home"));
    }
}
