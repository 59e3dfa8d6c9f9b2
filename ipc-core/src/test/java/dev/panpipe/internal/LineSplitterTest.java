package dev.panpipe.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class LineSplitterTest {
    private final List<String> lines = new ArrayList<>();
    private final LineSplitter.Sink sink = (line, complete) -> lines.add(new String(line, StandardCharsets.US_ASCII) + (complete ? "" : "|"));

    @Test
    @Timeout(10)
    void shouldGiveTheSameLinesWhateverTheChunks() {
        String text = "alpha\n\nbeta gamma\n" + "x".repeat(300) + "\ntail";
        byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        Random random = new Random(42);
        for (int round = 0; round < 200; round++) {
            lines.clear();
            LineSplitter splitter = new LineSplitter(1 << 20);
            for (int i = 0; i < bytes.length; ) {
                int n = Math.min(bytes.length - i, 1 + random.nextInt(round % 2 == 0 ? 3 : 64));
                splitter.feed(bytes, i, n, sink);
                i += n;
            }
            assertEquals(4, splitter.pending());
            splitter.finish(sink);
            assertEquals(List.of("alpha", "", "beta gamma", "x".repeat(300), "tail|"), lines);
            assertEquals(0, splitter.pending());
        }
    }

    @Test
    @Timeout(10)
    void shouldCutAnOverlongLineIntoPiecesOfTheLimit() {
        LineSplitter splitter = new LineSplitter(4);
        byte[] bytes = "abcd\nabcdefghij\nab".getBytes(StandardCharsets.US_ASCII);
        splitter.feed(bytes, 0, 7, sink);
        splitter.feed(bytes, 7, bytes.length - 7, sink);
        splitter.finish(sink);
        assertEquals(List.of("abcd", "abcd|", "efgh|", "ij", "ab|"), lines);
    }
}
