package dev.panpipe.bench;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/**
 * The child process of {@link UnixSocketBenchmark}: a plain JDK program (no panpipe) that connects to the
 * benchmark's Unix-domain socket and either drops everything it reads ({@code sink}) or sends every
 * message of N bytes straight back ({@code echo N}), until the benchmark closes its end.
 *
 * <p>Usage: {@code java -cp benchmarks.jar dev.panpipe.bench.UnixSocketPeer SOCKET sink|echo [N]}.
 */
public final class UnixSocketPeer {
    private UnixSocketPeer() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 2 || !(args[1].equals("sink") || args[1].equals("echo"))) {
            System.err.println("usage: UnixSocketPeer SOCKET sink|echo [MESSAGE_BYTES]");
            System.exit(2);
        }
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(Path.of(args[0])))) {
            if (args[1].equals("sink")) {
                ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
                while (ch.read(buf) >= 0) buf.clear();
                return;
            }
            ByteBuffer buf = ByteBuffer.allocateDirect(args.length > 2 ? Integer.parseInt(args[2]) : 64);
            while (DirectMessage.readFully(ch, buf)) {
                buf.flip();
                while (buf.hasRemaining()) ch.write(buf);
                buf.clear();
            }
        }
    }
}
