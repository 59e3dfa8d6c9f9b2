package dev.panpipe.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The JDK's Unix-domain sockets ({@link UnixDomainSocketAddress}, {@link SocketChannel}, JDK 16+) to a
 * child process: a baseline for what Java offers between two processes without panpipe.
 *
 * <p>The child is a second JVM running {@link UnixSocketPeer} (JDK classes only), started once per trial with
 * {@link ProcessBuilder} and placed like every other benchmark's child ({@link Placement}: it inherits cpu 0,
 * or is started as {@code taskset -c N java ...}). The socket lives in a fresh 0700 directory, removed at
 * the end. Both sides use blocking channels and direct buffers, the kernel's default socket buffers.
 *
 * <ul>
 *   <li>{@code throughput}: one op = one message of {@link DirectMessage#size} bytes written to the socket
 *       (Throughput: messages/s; results.md shows MB/s); the child reads into a 1 MiB buffer and drops it.</li>
 *   <li>{@code pingPong}: one op = 64 bytes to the child, which sends them straight back (SampleTime).</li>
 * </ul>
 */
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class UnixSocketBenchmark {
    static final int PING_BYTES = 64;


    /** A connected child JVM running {@link UnixSocketPeer} in one mode. */
    abstract static class Peer {
        Path dir;
        Path socket;
        Process child;
        SocketChannel channel;

        void start(Placement placement, String... peerArgs) throws IOException, InterruptedException {
            dir = Files.createTempDirectory("panpipe-uds-", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            socket = dir.resolve("s");
            try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
                server.bind(UnixDomainSocketAddress.of(socket));
                List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-XX:+UseSerialGC", "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                        UnixSocketPeer.class.getName(), socket.toString()));
                cmd.addAll(Arrays.asList(peerArgs));
                child = new ProcessBuilder(placement.command(cmd.toArray(String[]::new)))
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(ProcessBuilder.Redirect.INHERIT)
                        .start();
                server.configureBlocking(false);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while ((channel = server.accept()) == null) {
                    if (!child.isAlive()) throw new IllegalStateException("peer exited with " + child.exitValue() + " before connecting");
                    if (System.nanoTime() > deadline) throw new IllegalStateException("peer did not connect within 30 s");
                    Thread.sleep(5);
                }
                channel.configureBlocking(true);
            }
        }

        void stop() throws IOException, InterruptedException {
            if (channel != null) channel.close();           // end of stream: the peer exits
            boolean exited = child.waitFor(10, TimeUnit.SECONDS);
            if (!exited) child.destroyForcibly().waitFor();
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
            if (!exited || child.exitValue() != 0) throw new IllegalStateException("peer ended " + (exited ? "with " + child.exitValue() : "hung"));
        }
    }

    @State(Scope.Thread)
    public static class Sink extends Peer {
        @Setup(Level.Trial)
        public void setUp(Placement placement) throws IOException, InterruptedException {
            start(placement, "sink");
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException, InterruptedException {
            stop();
        }
    }

    @State(Scope.Thread)
    public static class Echo extends Peer {
        ByteBuffer out;
        ByteBuffer in;

        @Setup(Level.Trial)
        public void setUp(Placement placement) throws IOException, InterruptedException {
            start(placement, "echo", Integer.toString(PING_BYTES));
            out = DirectMessage.filled(PING_BYTES);
            in = ByteBuffer.allocateDirect(PING_BYTES);
            roundTrip(this);
            if (in.clear().compareTo(out.clear()) != 0) throw new IllegalStateException("echo came back different");
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException, InterruptedException {
            stop();
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    public int throughput(Sink s, DirectMessage m) throws IOException {
        return m.writeTo(s.channel);
    }

    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public ByteBuffer pingPong(Echo e) throws IOException {
        return roundTrip(e);
    }

    private static ByteBuffer roundTrip(Echo e) throws IOException {
        return DirectMessage.roundTrip(e.channel, e.out, e.channel, e.in);
    }
}
