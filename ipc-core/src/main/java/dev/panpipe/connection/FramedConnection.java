package dev.panpipe.connection;

import dev.panpipe.internal.CloseGate;
import dev.panpipe.internal.Closer;
import dev.panpipe.io.ReadEnd;
import dev.panpipe.io.WriteEnd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;

import static dev.panpipe.connection.FrameDescriptor.HEADER_LENGTH;
import static dev.panpipe.connection.FrameDescriptor.U32;

/**
 * {@link Connection} over a {@link ReadEnd} and a {@link WriteEnd}: frames as docs/frame-protocol.md
 * defines them.
 *
 * <h2>Memory</h2>
 * Each direction has one native buffer that grows (to at most header + maximum message size) and is
 * reused: sending encodes in place after the header and writes once; receiving reads the header, checks
 * every field, and only then reads the payload, growing the buffer as bytes actually arrive. A frame that
 * claims a huge length therefore costs nothing until its bytes come, and one over the maximum is refused
 * before any allocation. Buffers are freed deterministically by whoever ends the last call in flight
 * after {@link #close()} (a {@link CloseGate}, as for fds).
 */
final class FramedConnection implements Connection {
    private static final long INITIAL_BUFFER = 64 * 1024;
    /** Payloads up to this size are copied behind the header and go out in one write; larger ones in two. */
    private static final long COALESCE_LIMIT = 64 * 1024;

    private final ReadEnd in;
    private final WriteEnd out;
    private final ConnectionOptions options;
    private final CloseGate gate = new CloseGate();
    private final Buffer sendBuffer;
    private final Buffer receiveBuffer;
    private final SendWriter writer = new SendWriter();
    private final Message message = new Message();
    private long sent;
    private long received;
    private volatile ProtocolException broken;

    FramedConnection(ReadEnd in, WriteEnd out, ConnectionOptions options) {
        if (in == null && out == null) throw new IllegalArgumentException("a connection needs an end to read or to write");
        this.in = in;
        this.out = out;
        this.options = options;
        this.sendBuffer = new Buffer(HEADER_LENGTH + (long) options.maxMessageSize());
        this.receiveBuffer = new Buffer(HEADER_LENGTH + (long) options.maxMessageSize());
    }

    // ---------------------------------------------------------------------------------------- send

    @Override
    public void send(int type, MemorySegment payload) throws IOException {
        requireFrameType(type);
        requireSendable(payload.byteSize());
        enter();
        try {
            int seq = (int) sent;
            if (payload.byteSize() <= COALESCE_LIMIT || !payload.isNative()) {   // heap bytes must be copied anyway
                MemorySegment buf = sendBuffer.ensure(HEADER_LENGTH + payload.byteSize(), 0);
                FrameDescriptor.writeHeader(buf, 0, type, (int) payload.byteSize(), seq);
                MemorySegment.copy(payload, 0, buf, HEADER_LENGTH, payload.byteSize());
                writeWhole(sendBuffer.view(0, HEADER_LENGTH + payload.byteSize()));
            } else {
                MemorySegment buf = sendBuffer.ensure(HEADER_LENGTH, 0);
                FrameDescriptor.writeHeader(buf, 0, type, (int) payload.byteSize(), seq);
                writeWhole(sendBuffer.view(0, HEADER_LENGTH));
                writeWhole(payload);
            }
            sent++;
        } finally {
            exit();
        }
    }

    @Override
    public void send(byte[] payload) throws IOException {
        requireSendable(payload.length);
        enter();
        try {
            MemorySegment buf = sendBuffer.ensure(HEADER_LENGTH + (long) payload.length, 0);
            FrameDescriptor.writeHeader(buf, 0, FrameDescriptor.TYPE_BYTES, payload.length, (int) sent);
            MemorySegment.copy(payload, 0, buf, ValueLayout.JAVA_BYTE, HEADER_LENGTH, payload.length);
            writeWhole(sendBuffer.view(0, HEADER_LENGTH + (long) payload.length));
            sent++;
        } finally {
            exit();
        }
    }

    @Override
    public <T> void send(T value, Codec<T> codec) throws IOException {
        encodeAndSend(value, codec, false);
    }

    @Override
    public <T> boolean trySend(T value, Codec<T> codec) throws IOException {
        return encodeAndSend(value, codec, true);
    }

    private <T> boolean encodeAndSend(T value, Codec<T> codec, boolean onlyIfItFits) throws IOException {
        // An application's codec may name any int: one no receiver accepts (0, or past 255, which the header's
        // byte would turn into another type) is refused here, not sent to break the peer's connection.
        int type = codec.type();
        requireFrameType(type);
        requireSendable(0);
        enter();
        try {
            writer.reset();
            codec.encode(value, writer);
            long length = writer.written();
            if (onlyIfItFits) {
                long room = out.writableBytes();
                if (room >= 0 && room < HEADER_LENGTH + length) return false;
            }
            MemorySegment buf = sendBuffer.segment;
            FrameDescriptor.writeHeader(buf, 0, type, (int) length, (int) sent);
            writeWhole(sendBuffer.view(0, HEADER_LENGTH + length));
            sent++;
            return true;
        } finally {
            exit();
        }
    }

    /**
     * Writes all of {@code bytes}. A write end in blocking mode takes everything at once; one in non-blocking
     * mode takes what fits and says so, and a frame cut there would leave the peer reading the next frame as
     * the rest of this one: so the rest waits for room, and a frame that was begun is always finished (a
     * closed reader or a close of this connection ends the wait with an exception instead).
     */
    private void writeWhole(MemorySegment bytes) throws IOException {
        long done = out.write(bytes);
        while (done < bytes.byteSize()) {
            out.awaitWritable(null);
            done += out.write(bytes.asSlice(done));
        }
    }

    private static void requireFrameType(int type) {
        if (!FrameDescriptor.isKnownType(type)) throw new IllegalArgumentException("not a frame type: " + type);
    }

    private void requireSendable(long length) throws ProtocolException {
        if (out == null) throw new IllegalStateException("this connection only receives");
        if (length > options.maxMessageSize()) {
            throw new ProtocolException("length", length, "message of " + length + " bytes exceeds the maximum message size of "
                    + options.maxMessageSize() + " bytes");
        }
    }

    /** Encodes straight into the send buffer, behind the header. */
    private final class SendWriter implements PayloadWriter {
        private long position;

        void reset() {
            position = HEADER_LENGTH;
            sendBuffer.ensure(HEADER_LENGTH, 0);
        }

        @Override
        public MemorySegment claim(long length) throws ProtocolException {
            long payload = position - HEADER_LENGTH + length;
            if (length < 0 || payload > options.maxMessageSize()) {
                throw new ProtocolException("length", payload, "encoded message of " + payload
                        + " bytes exceeds the maximum message size of " + options.maxMessageSize() + " bytes");
            }
            MemorySegment buf = sendBuffer.ensure(position + length, position);
            MemorySegment slice = buf.asSlice(position, length);
            position += length;
            return slice;
        }

        @Override
        public long written() {
            return position - HEADER_LENGTH;
        }
    }

    // ------------------------------------------------------------------------------------- receive

    @Override
    public Message receive() throws IOException {
        if (in == null) throw new IllegalStateException("this connection only sends");
        ProtocolException b = broken;
        if (b != null) throw b;
        enter();
        try {
            MemorySegment buf = receiveBuffer.ensure(HEADER_LENGTH, 0);
            long got = readFully(0, HEADER_LENGTH);
            if (got == 0) {
                throw new ConnectionClosedException("peer closed the connection after " + received + " messages");
            }
            if (got < HEADER_LENGTH) {
                throw broken(new ProtocolException("header", got, "frame " + received + ": truncated header: "
                        + got + " of " + HEADER_LENGTH + " bytes before end of stream"));
            }
            int type = validateHeader(buf);
            int length = buf.get(U32, FrameDescriptor.LENGTH_OFFSET);
            int sequence = buf.get(U32, FrameDescriptor.SEQUENCE_OFFSET);
            // Grow as bytes arrive: a claimed length costs memory only once the peer really sends it.
            long done = 0;
            while (done < length) {
                long want = Math.min(length - done, Math.max(INITIAL_BUFFER, done));
                buf = receiveBuffer.ensure(HEADER_LENGTH + done + want, HEADER_LENGTH + done);
                long n = readFully(HEADER_LENGTH + done, want);
                done += n;
                if (n < want) {
                    throw broken(new ProtocolException("length", length, "frame " + received + ": truncated payload: "
                            + done + " of " + length + " bytes before end of stream"));
                }
            }
            received++;
            return message.wrap(type, sequence, buf, HEADER_LENGTH, length);
        } finally {
            exit();
        }
    }

    /** Checks every header field in wire order and returns the type; a refusal breaks the connection. */
    private int validateHeader(MemorySegment buf) throws ProtocolException {
        try {
            return HeaderCheck.validate(buf, 0, received, options.maxMessageSize());
        } catch (ProtocolException e) {
            throw broken(e);
        }
    }

    private ProtocolException broken(ProtocolException e) {
        broken = e;
        return e;
    }

    /** Reads into the receive buffer until {@code length} bytes are in or the stream ends; returns how many arrived. */
    private long readFully(long offset, long length) throws IOException {
        long done = 0;
        while (done < length) {
            long n = in.read(receiveBuffer.view(offset + done, length - done));
            if (n == ReadEnd.EOF) break;
            if (n == 0) {
                in.awaitReadable(null);
                continue;
            }
            done += n;
        }
        return done;
    }

    @Override
    public boolean poll(Duration timeout) throws IOException {
        if (in == null) throw new IllegalStateException("this connection only sends");
        ProtocolException b = broken;
        if (b != null) throw b;
        return in.awaitReadable(timeout == null ? null : timeout);
    }

    // -------------------------------------------------------------------------------- lifecycle

    @Override
    public long sent() {
        return sent;
    }

    @Override
    public long received() {
        return received;
    }

    @Override
    public ConnectionOptions options() {
        return options;
    }

    @Override
    public boolean isOpen() {
        return !gate.isClosed();
    }

    private void enter() {
        if (!gate.enter()) throw new IllegalStateException("connection is closed");
    }

    private void exit() {
        if (gate.exit()) freeBuffers();
    }

    @Override
    public void close() {
        CloseGate.Closing closing = gate.close();
        if (closing == CloseGate.Closing.ALREADY_CLOSED) return;
        // Closing the ends wakes a thread blocked in receive or send; it frees the buffers on its way out.
        // Each end is closed even if closing the other failed (waking its blocked thread, say).
        Closer closer = new Closer();
        if (in != null) closer.run(in::close);
        if (out != null) closer.run(out::close);
        if (closing == CloseGate.Closing.RELEASE_NOW) closer.run(this::freeBuffers);
        closer.throwUncheckedFailure();
    }

    private void freeBuffers() {
        sendBuffer.free();
        receiveBuffer.free();
    }

    /** A growable native buffer in its own arena, so growing frees the old memory at once. */
    private static final class Buffer {
        private final long limit;
        private Arena arena;
        MemorySegment segment = MemorySegment.NULL;
        /**
         * Slices of {@link #segment} last handed to a read or a write: one from its start (a header, a whole
         * frame to send) and one further on (a payload to receive). A slice made per call was an allocation
         * wherever the JIT did not inline the read or write it went to (seen at 40 B a send once other code had
         * used heap segments); kept while messages keep their size, they cost nothing. Null: none yet.
         */
        private MemorySegment fromStart;
        private MemorySegment further;

        Buffer(long limit) {
            this.limit = limit;
        }

        /** At least {@code capacity} bytes, keeping the first {@code keep}; doubles to amortize growth. */
        MemorySegment ensure(long capacity, long keep) {
            if (segment.byteSize() >= capacity) return segment;
            long size = Math.max(capacity, Math.min(limit, Math.max(INITIAL_BUFFER, segment.byteSize() * 2)));
            Arena grown = Arena.ofShared();
            MemorySegment bigger = grown.allocate(size, 64);
            if (keep > 0) MemorySegment.copy(segment, 0, bigger, 0, keep);
            if (arena != null) arena.close();
            arena = grown;
            segment = bigger;
            fromStart = further = null;
            return bigger;
        }

        /** {@code segment.asSlice(offset, length)}, the same slice again when it was the last asked for. */
        MemorySegment view(long offset, long length) {
            if (offset == 0) {
                if (fromStart == null || fromStart.byteSize() != length) fromStart = segment.asSlice(0, length);
                return fromStart;
            }
            if (further == null || further.byteSize() != length || further.address() != segment.address() + offset) {
                further = segment.asSlice(offset, length);
            }
            return further;
        }

        void free() {
            if (arena != null) {
                arena.close();
                arena = null;
                segment = MemorySegment.NULL;
                fromStart = further = null;
            }
        }
    }
}
