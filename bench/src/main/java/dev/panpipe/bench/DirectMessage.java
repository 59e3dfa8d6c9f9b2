package dev.panpipe.bench;

import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * The message of the JDK channel benchmarks ({@link NioPipeBenchmark}, {@link UnixSocketBenchmark}): {@link #size}
 * bytes in a direct buffer, filled once; one op writes all of it.
 */
@State(Scope.Thread)
public class DirectMessage {
    /** 64 B, 4 KiB, 64 KiB, 1 MiB, a 1920x1080 and a 3840x2160 RGB frame. */
    @Param({"64", "4096", "65536", "1048576", "6220800", "24883200"})
    public int size;

    ByteBuffer buffer;

    @Setup(Level.Trial)
    public void setUp() {
        buffer = filled(size);
    }

    /** Writes the whole message to a blocking channel. */
    int writeTo(WritableByteChannel channel) throws IOException {
        buffer.clear();
        int n = 0;
        while (buffer.hasRemaining()) n += channel.write(buffer);
        return n;
    }

    /** Writes all of {@code out} to the peer and reads exactly as many bytes back into {@code in}: one round trip. */
    static ByteBuffer roundTrip(WritableByteChannel there, ByteBuffer out, ReadableByteChannel back, ByteBuffer in) throws IOException {
        out.clear();
        while (out.hasRemaining()) there.write(out);
        in.clear();
        if (!readFully(back, in)) throw new IOException("the peer closed its end");
        return in;
    }

    /** Reads until the buffer is full; false at end of stream before the first byte. */
    static boolean readFully(ReadableByteChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf) < 0) {
                if (buf.position() == 0) return false;
                throw new IOException("end of stream inside a message");
            }
        }
        return true;
    }

    static ByteBuffer filled(int size) {
        ByteBuffer b = ByteBuffer.allocateDirect(size);
        for (int i = 0; i < size; i++) b.put(i, (byte) (i * 31 + 7));
        return b;
    }
}
