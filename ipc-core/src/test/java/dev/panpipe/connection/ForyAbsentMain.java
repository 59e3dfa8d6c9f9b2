package dev.panpipe.connection;

/** Run in a JVM without Fory by {@link ForyCodecTest}: the rest of panpipe works, Codecs.fory says what is missing. */
public final class ForyAbsentMain {
    private ForyAbsentMain() {
    }

    public static void main(String[] args) throws Exception {
        try (Connection.Pair pair = Connection.pair()) {
            pair.first().send("hi", Codecs.text());
            System.out.println("text " + pair.second().receive(Codecs.text()));
        }
        try {
            Codecs.fory(String.class);
            System.out.println("fory available?!");
        } catch (IllegalStateException e) {
            System.out.println("refused: " + e.getMessage());
        }
    }
}
