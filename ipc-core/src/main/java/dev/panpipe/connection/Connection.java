package dev.panpipe.connection;

import dev.panpipe.internal.Closer;
import dev.panpipe.internal.linux.LinuxSockets;
import dev.panpipe.io.Pipe;
import dev.panpipe.io.ReadEnd;
import dev.panpipe.io.WriteEnd;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * Whole messages between two processes, like Python's {@code multiprocessing.Connection}: {@code send}
 * and {@code receive} frames (docs/frame-protocol.md) over a socketpair, a pipe, a FIFO or a child's
 * stdin/stdout.
 *
 * {@snippet :
 * try (Connection.Pair pair = Connection.pair()) {          // duplex, like multiprocessing.Pipe()
 *     pair.first().send("hello", Codecs.text());
 *     String s = pair.second().receive(Codecs.text());
 * }
 * }
 *
 * <p>A frame is always sent whole: over a {@link WriteEnd} in non-blocking mode, {@code send} waits for
 * room to finish a frame it has begun rather than leave it cut (use {@link #trySend} not to wait), and
 * {@link #receive()} over a non-blocking {@link ReadEnd} waits for the rest of a frame that came in part.
 *
 * <p>One thread may send while another receives; two threads must not send (or receive) on one
 * connection at once. {@link #receive()} returns a flyweight valid until the next receive, so the
 * receive path allocates nothing.
 */
public interface Connection extends AutoCloseable {
    /** A duplex pair over a Unix socketpair, like {@code multiprocessing.Pipe()}. */
    static Pair pair() throws IOException {
        return pair(ConnectionOptions.defaults());
    }

    static Pair pair(ConnectionOptions options) throws IOException {
        return LinuxSockets.connectionPair(options);
    }

    /**
     * A one-way pair over a pipe, like {@code multiprocessing.Pipe(duplex=False)}: {@code first()} only
     * receives, {@code second()} only sends.
     */
    static Pair oneWay(ConnectionOptions options) throws IOException {
        Pipe pipe = Pipe.open();
        return new Pair(new FramedConnection(pipe.readEnd(), null, options), new FramedConnection(null, pipe.writeEnd(), options));
    }

    static Pair oneWay() throws IOException {
        return oneWay(ConnectionOptions.defaults());
    }

    /** A connection that receives from {@code in} and sends to {@code out} (either may be null); it owns both. */
    static Connection over(ReadEnd in, WriteEnd out, ConnectionOptions options) {
        return new FramedConnection(in, out, options);
    }

    /** Sends raw bytes (type {@link FrameDescriptor#TYPE_BYTES}) from a segment. */
    default void send(MemorySegment payload) throws IOException {
        send(FrameDescriptor.TYPE_BYTES, payload);
    }

    /** Sends {@code payload} as a frame of {@code type}, as it is: to forward a message, or for an application type. */
    void send(int type, MemorySegment payload) throws IOException;

    /** Sends raw bytes (type {@link FrameDescriptor#TYPE_BYTES}). */
    void send(byte[] payload) throws IOException;

    /** Sends {@code value} encoded by {@code codec}. */
    <T> void send(T value, Codec<T> codec) throws IOException;

    /**
     * Sends {@code value} only if the whole frame fits in the transport's buffer now
     * ({@link WriteEnd#writableBytes()}); otherwise sends nothing, consumes no sequence number, and
     * returns false. On a transport that cannot tell its room (a socket), it sends, waiting for room if
     * need be, and returns true.
     */
    <T> boolean trySend(T value, Codec<T> codec) throws IOException;

    /**
     * Receives the next message, waiting for it.
     *
     * @throws ConnectionClosedException if the peer closed between messages
     * @throws ProtocolException         if the frame breaks the protocol (the connection is broken from then on)
     */
    Message receive() throws IOException;

    /** Receives the next message and decodes it with {@code codec}, which must match its type. */
    default <T> T receive(Codec<T> codec) throws IOException {
        return receive().decode(codec);
    }

    /** Receives the next message's payload as a new array, whatever its type. */
    default byte[] receiveBytes() throws IOException {
        return receive().toByteArray();
    }

    /**
     * Waits up to {@code timeout} ({@code null}: no limit; zero: just look; see {@link ReadEnd#awaitReadable})
     * until {@link #receive()} has something to read: a message, or the peer's close.
     *
     * @throws IllegalArgumentException if {@code timeout} is negative
     */
    boolean poll(Duration timeout) throws IOException;

    /** Messages sent so far. */
    long sent();

    /** Messages received so far. */
    long received();

    ConnectionOptions options();

    boolean isOpen();

    /** Closes this side; the peer's receive then ends with {@link ConnectionClosedException}. Idempotent. */
    @Override
    void close();

    /** Two connected ends; closing the pair closes both. */
    record Pair(Connection first, Connection second) implements AutoCloseable {
        @Override
        public void close() {
            // The second is closed even if closing the first failed: the first failure is thrown after.
            Closer closer = new Closer();
            closer.run(first::close);
            closer.run(second::close);
            closer.throwUncheckedFailure();
        }
    }
}
