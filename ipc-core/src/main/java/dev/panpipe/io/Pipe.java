package dev.panpipe.io;

import dev.panpipe.internal.linux.LinuxPipe;

import java.io.IOException;

/**
 * An anonymous pipe: a one-way byte stream with a kernel buffer, from {@code pipe2(O_CLOEXEC)} on Linux.
 *
 * {@snippet :
 * try (Pipe pipe = Pipe.open()) {
 *     pipe.writeEnd().write("hello".getBytes(), 0, 5);
 *     pipe.writeEnd().close();                     // the reader sees end of stream after the data
 *     byte[] buf = new byte[16];
 *     int n = pipe.readEnd().read(buf, 0, buf.length);
 * }
 * }
 *
 * <p>Both ends are close-on-exec: a child receives one only when it is named in a
 * {@link dev.panpipe.process.Redirect}. Each end may be closed on its own; closing the pipe closes both.
 */
public interface Pipe extends AutoCloseable {
    /** Opens a new pipe. */
    static Pipe open() throws IOException {
        return LinuxPipe.open();
    }

    ReadEnd readEnd();

    WriteEnd writeEnd();

    /** The kernel buffer's size in bytes ({@code F_GETPIPE_SZ}). */
    int capacity() throws IOException;

    /**
     * Asks the kernel for a buffer of at least {@code bytes} ({@code F_SETPIPE_SZ}); it rounds up to a
     * power-of-two number of pages and caps unprivileged requests at {@code /proc/sys/fs/pipe-max-size}.
     *
     * @return the size granted
     */
    int capacity(int bytes) throws IOException;

    /** Closes both ends. */
    @Override
    void close();
}
