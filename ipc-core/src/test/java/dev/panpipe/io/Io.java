package dev.panpipe.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** Small helpers for tests: read an end to its end. */
public final class Io {
    private Io() {
    }

    public static byte[] readAll(ReadEnd end) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        for (int n; (n = end.read(buf, 0, buf.length)) != ReadEnd.EOF; ) {
            if (n == 0) end.awaitReadable(null);
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    public static String readAllUtf8(ReadEnd end) throws IOException {
        return new String(readAll(end), StandardCharsets.UTF_8);
    }

    public static void writeUtf8(WriteEnd end, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        assert end.isBlocking();
        end.write(b, 0, b.length);
    }
}
