package dev.panpipe.connection;

import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.ReadEnd;
import dev.panpipe.testing.RandomCases;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Function;

import static dev.panpipe.connection.FrameDescriptor.HEADER_LENGTH;
import static dev.panpipe.connection.FrameDescriptor.U16;
import static dev.panpipe.connection.FrameDescriptor.U32;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The frames a {@link FrameAssembler} reassembles come from another process, which may be broken or
 * hostile, in pieces of any size. Whatever the bytes and however they are cut, the assembler must give
 * exactly the frames a plain reading of the protocol (docs/frame-protocol.md) finds in them, then the
 * error it finds, as a {@link ProtocolException} naming the field; once broken it must stay broken with
 * that same exception; and its buffer must grow only with bytes that arrived, never to a length a header
 * merely claims.
 *
 * <p>The oracle is {@link #parse}, a second, naive reading of the whole stream at once. The streams are
 * made three ways (see {@link RandomCases} for seeds and shrinking): (a) frames made with the production
 * header writer mixed with runs of random bytes; (b) valid frames with one to four stores of 1, 2 or 4
 * bytes over them, mostly over a header field; (c) frames around and above the assembler's 64 KiB first
 * buffer, with claimed lengths that run past the end of the stream. The stream is fed through a
 * {@link ReadEnd} that hands it out in the case's piece sizes (0 meaning "nothing ready"), and the frames
 * are taken after every read or only after some. Nothing here waits, so a case cannot hang: a read loop
 * that never ends fails on its bound.
 *
 * <p>The protocol has no checksum: a store over a payload, or over a type byte that leaves a known type,
 * gives a different message that nothing can tell from the one sent, and so does a length that makes a
 * frame swallow the frames after it, up to the end of the stream. The tests check that such frames are
 * exactly what the protocol reading gives, and print how often each outcome came.
 *
 * <p>It found that a caller reading twice before taking frames, with the buffer full of a whole frame,
 * grew the buffer by a byte per read past the largest frame, copying all of it each time.
 */
@Timeout(300)
@ExtendWith(LeakCheck.class)
class FrameAssemblerCorruptionTest {
    private static final int MAX = 1 << 20;
    private static final long INITIAL_BUFFER = 64 * 1024;
    private static final int[] TYPES = {
            FrameDescriptor.TYPE_BYTES, FrameDescriptor.TYPE_TEXT, FrameDescriptor.TYPE_PIXELS, FrameDescriptor.TYPE_END_OF_INPUT,
            FrameDescriptor.FIRST_APPLICATION_TYPE, 255,
    };

    /** One frame as sent or received. */
    record Frame(int type, int sequence, byte[] payload) {
        static Frame random(Random r, int sequence, int maxPayload) {
            return new Frame(TYPES[r.nextInt(TYPES.length)], sequence, randomBytes(r, r.nextInt(maxPayload + 1)));
        }

        Frame withPayload(byte[] p) {
            return new Frame(type, sequence, p);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Frame f && f.type == type && f.sequence == sequence && Arrays.equals(f.payload, payload);
        }

        @Override
        public int hashCode() {
            return 31 * type + sequence;
        }

        @Override
        public String toString() {
            return "frame(type " + type + ", seq " + sequence + ", " + payload.length + " bytes)";
        }
    }

    /** What a whole stream gives: frames, then the field of the error that ends it (null: none). */
    record Outcome(List<Frame> frames, String errorField) {
    }

    // --------------------------------------------------------------------------------- pieces, shrinking

    /** Piece sizes: mostly small, now and then 0 ("nothing ready this time"), sometimes large. */
    private static List<Integer> randomPieces(Random r, int most, int large) {
        List<Integer> pieces = new ArrayList<>();
        for (int n = 1 + r.nextInt(most); n > 0; n--) {
            int pick = r.nextInt(8);
            pieces.add(pick < 5 ? 1 + r.nextInt(20) : pick < 6 ? 0 : 21 + r.nextInt(large - 20));
        }
        return List.copyOf(pieces);
    }

    /** Fewer pieces (never none), and each piece halved. */
    private static List<List<Integer>> smallerPieces(List<Integer> pieces, int least) {
        List<List<Integer>> out = new ArrayList<>();
        for (int i = 0; i < pieces.size() && pieces.size() > 1; i++) {
            List<Integer> fewer = new ArrayList<>(pieces);
            fewer.remove(i);
            out.add(List.copyOf(fewer));
        }
        for (int i = 0; i < pieces.size(); i++) {
            if (pieces.get(i) / 2 < least || pieces.get(i) == 0) continue;
            List<Integer> halved = new ArrayList<>(pieces);
            halved.set(i, pieces.get(i) / 2);
            out.add(List.copyOf(halved));
        }
        return out;
    }

    /** {@code list} without element {@code i}, and with each element replaced by each of its smaller forms. */
    private static <T> List<List<T>> smallerLists(List<T> list, int least, Function<T, List<T>> smaller) {
        List<List<T>> out = new ArrayList<>();
        for (int i = 0; i < list.size() && list.size() > least; i++) {
            List<T> fewer = new ArrayList<>(list);
            fewer.remove(i);
            out.add(List.copyOf(fewer));
        }
        for (int i = 0; i < list.size(); i++) {
            for (T s : smaller.apply(list.get(i))) {
                List<T> simpler = new ArrayList<>(list);
                simpler.set(i, s);
                out.add(List.copyOf(simpler));
            }
        }
        return out;
    }

    /** {@code b} cut to {@code least} bytes, or to half its length. */
    private static List<byte[]> shorter(byte[] b, int least) {
        List<byte[]> out = new ArrayList<>();
        if (b.length > least) out.add(Arrays.copyOf(b, least));
        if (b.length / 2 > least) out.add(Arrays.copyOf(b, b.length / 2));
        return out;
    }

    private static byte[] randomBytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    // ------------------------------------------------------------------------------------- (a) any bytes

    /** A frame, or a run of 1-40 random bytes ({@code frame} null). */
    record Part(Frame frame, byte[] junk) {
        static Part random(Random r) {
            return r.nextInt(4) < 3 ? new Part(Frame.random(r, r.nextInt(6) - 1, 40), null) : new Part(null, randomBytes(r, 1 + r.nextInt(40)));
        }

        byte[] bytes() {
            return frame == null ? junk : frameBytes(frame.type(), frame.sequence(), frame.payload());
        }

        List<Part> smaller() {
            if (frame == null) return shorter(junk, 1).stream().map(j -> new Part(null, j)).toList();
            List<Part> out = new ArrayList<>(shorter(frame.payload(), 0).stream().map(p -> new Part(frame.withPayload(p), null)).toList());
            if (frame.type() != FrameDescriptor.TYPE_BYTES) out.add(new Part(new Frame(FrameDescriptor.TYPE_BYTES, frame.sequence(), frame.payload()), null));
            return out;
        }

        @Override
        public String toString() {
            return frame != null ? frame.toString() : "junk " + HexFormat.of().formatHex(junk);
        }
    }

    /** A stream of up to 6 parts, the pieces it arrives in, and after how many reads the frames are taken. */
    record MixedCase(List<Part> parts, List<Integer> pieces, int drainEvery) {
        static MixedCase random(Random r) {
            List<Part> parts = new ArrayList<>();
            for (int n = r.nextInt(7); n > 0; n--) parts.add(Part.random(r));
            return new MixedCase(List.copyOf(parts), randomPieces(r, 8, 100_000), 1 + r.nextInt(3));
        }

        /** The parts in a row, frames numbered from 0 in order unless a junk run or a sequence of -1 breaks them. */
        byte[] stream() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            int sequence = 0;
            for (Part p : parts) {
                byte[] part = p.bytes();
                if (part.length >= HEADER_LENGTH && MemorySegment.ofArray(part).get(U32, 0) == FrameDescriptor.MAGIC
                        && MemorySegment.ofArray(part).get(U32, FrameDescriptor.SEQUENCE_OFFSET) >= 0) {
                    MemorySegment.ofArray(part).set(U32, FrameDescriptor.SEQUENCE_OFFSET, sequence++);
                }
                out.writeBytes(part);
            }
            return out.toByteArray();
        }

        List<MixedCase> smaller() {
            List<MixedCase> out = new ArrayList<>();
            smallerLists(parts, 0, Part::smaller).forEach(p -> out.add(new MixedCase(p, pieces, drainEvery)));
            smallerPieces(pieces, 0).forEach(p -> out.add(new MixedCase(parts, p, drainEvery)));
            if (drainEvery > 1) out.add(new MixedCase(parts, pieces, 1));
            return out;
        }
    }

    @Test
    void anyBytesCutAnywhereGiveTheFramesTheProtocolReadsThenItsError() {
        Map<String, Integer> endings = new TreeMap<>();
        RandomCases.check("mixed streams", 400, MixedCase::random, MixedCase::smaller, c -> {
            Map<Integer, String> fds = LeakCheck.openFds();
            byte[] stream = c.stream();
            Outcome expected = parse(stream, MAX);
            Outcome got = assemble(stream, c.pieces(), c.drainEvery(), MAX);
            assertEquals(expected, got, "pieces " + c.pieces());
            endings.merge(got.errorField() == null ? "no error" : got.errorField(), 1, Integer::sum);
            assertNoFdLeft(fds);
        });
        System.out.println("mixed streams end with: " + endings);
    }

    // ------------------------------------------------------------------------ (b) valid frames, scribbled

    /** The header fields a scribble favours: offset in the header and width. */
    private static final int[][] FIELDS = {
            {FrameDescriptor.MAGIC_OFFSET, 4}, {FrameDescriptor.MAGIC_OFFSET + 3, 1}, {FrameDescriptor.VERSION_OFFSET, 1},
            {FrameDescriptor.TYPE_OFFSET, 1}, {FrameDescriptor.FLAGS_OFFSET, 2}, {FrameDescriptor.LENGTH_OFFSET, 4},
            {FrameDescriptor.LENGTH_OFFSET, 1}, {FrameDescriptor.SEQUENCE_OFFSET, 4}, {FrameDescriptor.SEQUENCE_OFFSET, 1},
    };
    private static final int[] VALUE_EDGES = {255, 256, 0xffff, 1 << 20, (1 << 20) + 1, Integer.MIN_VALUE, Integer.MAX_VALUE};

    /**
     * A store of the low {@code width} bytes of {@code value} at {@code at} of the header of frame
     * {@code frame} (modulo the frames there are), or, if {@code frame < 0}, at {@code at} of the stream
     * (modulo its length).
     */
    record Scribble(int frame, int at, int width, int value) {
        static Scribble random(Random r) {
            int value = switch (r.nextInt(3)) {
                case 0 -> r.nextInt();
                case 1 -> r.nextInt(73) - 2;
                default -> VALUE_EDGES[r.nextInt(VALUE_EDGES.length)];
            };
            if (r.nextInt(4) == 0) return new Scribble(-1, r.nextInt(401), new int[]{1, 2, 4}[r.nextInt(3)], value);
            int[] f = FIELDS[r.nextInt(FIELDS.length)];
            return new Scribble(r.nextInt(5), f[0], f[1], value);
        }

        void applyTo(byte[] stream, List<Frame> frames) {
            int offset = at;
            if (frame >= 0) {
                offset = 0;
                for (int i = 0; i < frame % frames.size(); i++) offset += HEADER_LENGTH + frames.get(i).payload().length;
                offset += at;
            }
            if (stream.length < width) return;
            int o = Math.floorMod(offset, stream.length - width + 1);
            for (int i = 0; i < width; i++) stream[o + i] = (byte) (value >>> (8 * i));
        }

        List<Scribble> smaller() {
            List<Scribble> out = new ArrayList<>();
            for (long v : RandomCases.simpler(value)) {
                if (v == (int) v) out.add(new Scribble(frame, at, width, (int) v));
            }
            if (frame > 0) out.add(new Scribble(0, at, width, value));
            return out;
        }

        @Override
        public String toString() {
            return (frame < 0 ? "stream+" + at : "frame " + frame + " header+" + at) + " := " + value + " (" + width + " bytes)";
        }
    }

    /** One to five valid frames, one to four scribbles over them, and the pieces the stream arrives in. */
    record ScribbledCase(List<Frame> frames, List<Scribble> scribbles, List<Integer> pieces) {
        static ScribbledCase random(Random r) {
            List<Frame> frames = new ArrayList<>();
            for (int n = 1 + r.nextInt(5), i = 0; i < n; i++) frames.add(Frame.random(r, i, 24));
            List<Scribble> scribbles = new ArrayList<>();
            for (int n = 1 + r.nextInt(4); n > 0; n--) scribbles.add(Scribble.random(r));
            return new ScribbledCase(List.copyOf(frames), List.copyOf(scribbles), randomPieces(r, 8, 100_000));
        }

        /** Fewer frames (the last ones, so the rest stay numbered), shorter payloads, fewer or simpler scribbles, fewer pieces. */
        List<ScribbledCase> smaller() {
            List<ScribbledCase> out = new ArrayList<>();
            if (frames.size() > 1) out.add(new ScribbledCase(frames.subList(0, frames.size() - 1), scribbles, pieces));
            for (int i = 0; i < frames.size(); i++) {
                for (byte[] p : shorter(frames.get(i).payload(), 0)) {
                    List<Frame> f = new ArrayList<>(frames);
                    f.set(i, frames.get(i).withPayload(p));
                    out.add(new ScribbledCase(List.copyOf(f), scribbles, pieces));
                }
            }
            smallerLists(scribbles, 1, Scribble::smaller).forEach(s -> out.add(new ScribbledCase(frames, s, pieces)));
            smallerPieces(pieces, 0).forEach(p -> out.add(new ScribbledCase(frames, scribbles, p)));
            return out;
        }
    }

    @Test
    void scribbledFramesGiveWhatTheProtocolReadsAndAreOnlyChangedWhereItHasNoCheck() {
        Map<String, Integer> outcomes = new TreeMap<>();
        RandomCases.check("scribbled frames", 500, ScribbledCase::random, ScribbledCase::smaller, c -> {
            Map<Integer, String> fds = LeakCheck.openFds();
            byte[] original = encode(c.frames());
            byte[] stream = original.clone();
            for (Scribble s : c.scribbles()) s.applyTo(stream, c.frames());
            Outcome expected = parse(stream, MAX);
            Outcome got = assemble(stream, c.pieces(), 1, MAX);
            assertEquals(expected, got, "pieces " + c.pieces());
            String what;
            if (got.errorField() != null) {
                what = "protocol error: " + got.errorField();
            } else if (got.frames().equals(c.frames())) {
                what = Arrays.equals(original, stream) ? "unchanged" : "same frames";
            } else {
                // Silently different: no error, other frames. Possible only where the protocol checks nothing.
                what = silentChange(c.frames(), got.frames());
            }
            outcomes.merge(what, 1, Integer::sum);
            assertNoFdLeft(fds);
        });
        System.out.println("scribbled frames: " + outcomes);
    }

    /** Why frames came out different without an error: the fields the protocol does not check. */
    private static String silentChange(List<Frame> sent, List<Frame> got) {
        if (sent.size() != got.size()) return "silently different: a length swallowed frames";
        for (int i = 0; i < sent.size(); i++) {
            Frame s = sent.get(i), g = got.get(i);
            assertEquals(s.sequence(), g.sequence(), "the sequence is checked");
            if (s.payload().length != g.payload().length) return "silently different: a length swallowed frames";
        }
        for (int i = 0; i < sent.size(); i++) {
            if (sent.get(i).type() != got.get(i).type()) return "silently different: type";
        }
        return "silently different: payload";
    }

    // ---------------------------------------------------------------------- (c) the buffer and big frames

    /** Payload lengths around the first buffer (64 KiB less a header, and twice that) and above it. */
    private static final int[] BIG_LENGTHS = {0, 1, 65_519, 65_520, 65_521, 65_536, 100_000, 131_056, 200_000};
    /** Maximum message sizes: the default, ones between the frames' lengths, and one far below them. */
    private static final int[] MAX_SIZES = {MAX, 200_000, 70_000, 100};

    /**
     * One to three frames of those lengths; where the stream is cut (never inside the last header); whether
     * the last header claims the maximum instead of its length; the pieces; how often frames are taken; the
     * maximum message size.
     */
    record BigCase(List<Integer> lengths, int cutAt, boolean forgeTheLastLength, List<Integer> pieces, int drainEvery, int max) {
        static BigCase random(Random r) {
            List<Integer> lengths = new ArrayList<>();
            for (int n = 1 + r.nextInt(3); n > 0; n--) lengths.add(BIG_LENGTHS[r.nextInt(BIG_LENGTHS.length)]);
            List<Integer> pieces = new ArrayList<>();
            for (int n = 1 + r.nextInt(6); n > 0; n--) pieces.add(1 + r.nextInt(150_000));
            return new BigCase(List.copyOf(lengths), r.nextInt(300_001), r.nextBoolean(), List.copyOf(pieces), 1 + r.nextInt(2),
                    MAX_SIZES[r.nextInt(MAX_SIZES.length)]);
        }

        /** Fewer or shorter frames, no forged length, fewer or smaller pieces, the default maximum. */
        List<BigCase> smaller() {
            List<BigCase> out = new ArrayList<>();
            smallerLists(lengths, 1, l -> Arrays.stream(BIG_LENGTHS).filter(b -> b < l).boxed().toList())
                    .forEach(l -> out.add(new BigCase(l, cutAt, forgeTheLastLength, pieces, drainEvery, max)));
            if (forgeTheLastLength) out.add(new BigCase(lengths, cutAt, false, pieces, drainEvery, max));
            if (cutAt > 0) out.add(new BigCase(lengths, 0, forgeTheLastLength, pieces, drainEvery, max));
            smallerPieces(pieces, 1).forEach(p -> out.add(new BigCase(lengths, cutAt, forgeTheLastLength, p, drainEvery, max)));
            if (drainEvery > 1) out.add(new BigCase(lengths, cutAt, forgeTheLastLength, pieces, 1, max));
            if (max != MAX) out.add(new BigCase(lengths, cutAt, forgeTheLastLength, pieces, drainEvery, MAX));
            return out;
        }
    }

    /**
     * Frames around and above the first buffer, the last perhaps cut short or claiming more than is sent:
     * the buffer holds at most twice what arrived (it doubles when full) and never more than the first
     * buffer or one whole frame of the maximum size, whatever a header claims.
     */
    @Test
    void theBufferGrowsOnlyWithBytesThatArrived() {
        Map<String, Integer> biggestBuffers = new TreeMap<>();
        RandomCases.check("buffer growth", 60, BigCase::random, BigCase::smaller, c -> {
            Map<Integer, String> fds = LeakCheck.openFds();
            List<Integer> lengths = c.lengths();
            int max = c.max();
            List<Frame> frames = new ArrayList<>();
            for (int i = 0; i < lengths.size(); i++) {
                byte[] p = new byte[lengths.get(i)];
                for (int j = 0; j < p.length; j++) p[j] = (byte) (j * 31 + i);
                frames.add(new Frame(FrameDescriptor.TYPE_BYTES, i, p));
            }
            byte[] stream = encode(frames);
            int lastHeader = stream.length - HEADER_LENGTH - lengths.getLast();
            if (c.forgeTheLastLength()) MemorySegment.ofArray(stream).set(U32, lastHeader + FrameDescriptor.LENGTH_OFFSET, max);
            stream = Arrays.copyOf(stream, Math.min(stream.length, Math.max(c.cutAt(), lastHeader + HEADER_LENGTH)));
            Outcome expected = parse(stream, max);
            long[] biggest = new long[1];
            Outcome got = assemble(stream, c.pieces(), c.drainEvery(), max, (assembler, arrived) -> {
                long size = bufferSize(assembler);
                biggest[0] = Math.max(biggest[0], size);
                assertTrue(size <= Math.max(INITIAL_BUFFER, 2 * arrived), "a buffer of " + size + " after " + arrived + " bytes arrived");
                assertTrue(size <= Math.max(INITIAL_BUFFER, HEADER_LENGTH + (long) max), "a buffer of " + size + " for frames of up to " + max);
            });
            assertEquals(expected, got);
            biggestBuffers.merge(biggest[0] <= INITIAL_BUFFER ? "first" : biggest[0] <= 2 * INITIAL_BUFFER ? "<= 128 KiB" : "> 128 KiB", 1, Integer::sum);
            assertNoFdLeft(fds);
        });
        System.out.println("biggest buffer: " + biggestBuffers);
    }

    // ------------------------------------------------------------------------------------------ helpers

    /** Checks made after every read: the assembler, and how many bytes have arrived so far. */
    interface AfterRead {
        void check(FrameAssembler assembler, long arrived);
    }

    private static Outcome assemble(byte[] stream, List<Integer> pieces, int drainEvery, int max) throws IOException {
        return assemble(stream, pieces, drainEvery, max, (a, n) -> { });
    }

    /**
     * Feeds {@code stream} to a new assembler in {@code pieces} (cyclically), taking frames after every
     * {@code drainEvery}-th read, as an event loop does; then checks that a broken assembler stays broken.
     */
    private static Outcome assemble(byte[] stream, List<Integer> pieces, int drainEvery, int max, AfterRead afterRead)
            throws IOException {
        List<Frame> frames = new ArrayList<>();
        try (FrameAssembler assembler = new FrameAssembler(ConnectionOptions.defaults().withMaxMessageSize(max));
             Pieces in = new Pieces(stream, pieces)) {
            ProtocolException error = null;
            try {
                for (int reads = 1; ; reads++) {
                    long n = assembler.readFrom(in);
                    afterRead.check(assembler, in.given);
                    if (reads % drainEvery == 0 || n == FrameAssembler.END_OF_STREAM) {
                        for (Message m; (m = assembler.next()) != null; ) frames.add(new Frame(m.type(), m.sequence(), m.toByteArray()));
                    }
                    if (n == FrameAssembler.END_OF_STREAM) {
                        if (assembler.hasPartialFrame()) error = assembler.truncated();
                        break;
                    }
                    assertTrue(reads < 10 * (stream.length + pieces.size() + 10), "no end after " + reads + " reads");
                }
            } catch (ProtocolException e) {
                error = e;
            }
            if (error == null) return new Outcome(frames, null);
            assertNotNull(error.field());
            assertFalse(error.field().isBlank(), error.getMessage());
            ProtocolException first = error;
            assertSame(first, assertThrows(ProtocolException.class, assembler::next), "broken stays broken");
            assertSame(first, assertThrows(ProtocolException.class, () -> assembler.readFrom(in)), "broken stays broken");
            return new Outcome(frames, error.field());
        }
    }

    /** The protocol read plainly, the whole stream at once: the oracle. */
    static Outcome parse(byte[] stream, int max) {
        MemorySegment s = MemorySegment.ofArray(stream);
        List<Frame> frames = new ArrayList<>();
        int at = 0;
        for (int index = 0; ; index++) {
            int left = stream.length - at;
            if (left == 0) return new Outcome(frames, null);
            if (left < HEADER_LENGTH) return new Outcome(frames, "header");
            if (s.get(U32, at) != FrameDescriptor.MAGIC) return new Outcome(frames, "magic");
            if (stream[at + 4] != 1) return new Outcome(frames, "version");
            int type = stream[at + 5] & 0xff;
            if (!(type >= 1 && type <= 7) && type < 64) return new Outcome(frames, "type");
            if (s.get(U16, at + 6) != 0) return new Outcome(frames, "flags");
            long length = s.get(U32, at + 8) & 0xffffffffL;
            if (length > max) return new Outcome(frames, "length");
            if (s.get(U32, at + 12) != index) return new Outcome(frames, "sequence");
            if (left < HEADER_LENGTH + length) return new Outcome(frames, "length");   // truncated payload
            frames.add(new Frame(type, index, Arrays.copyOfRange(stream, at + HEADER_LENGTH, at + HEADER_LENGTH + (int) length)));
            at += HEADER_LENGTH + (int) length;
        }
    }

    /** A frame as FramedConnection writes it: the production header writer, then the payload. */
    private static byte[] frameBytes(int type, int sequence, byte[] payload) {
        byte[] f = new byte[HEADER_LENGTH + payload.length];
        FrameDescriptor.writeHeader(MemorySegment.ofArray(f), 0, type, payload.length, sequence);
        System.arraycopy(payload, 0, f, HEADER_LENGTH, payload.length);
        return f;
    }

    private static byte[] encode(List<Frame> frames) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Frame f : frames) out.writeBytes(frameBytes(f.type(), f.sequence(), f.payload()));
        return out.toByteArray();
    }

    private static long bufferSize(FrameAssembler assembler) {
        try {
            var f = FrameAssembler.class.getDeclaredField("buffer");
            f.setAccessible(true);
            return ((MemorySegment) f.get(assembler)).byteSize();
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static void assertNoFdLeft(Map<Integer, String> before) {
        Map<Integer, String> after = LeakCheck.openFds();
        after.keySet().removeIf(fd -> after.get(fd).equals(before.get(fd)) || after.get(fd).endsWith(".jar")
                || after.get(fd).startsWith("/proc/"));
        assertTrue(after.isEmpty(), "fds left open: " + after);
    }

    /**
     * A read end that hands out a byte array in pieces of the given sizes, cyclically (0: nothing ready
     * this time), then end of stream; a read takes at most what is left of the current piece.
     */
    static final class Pieces implements ReadEnd {
        private final byte[] stream;
        private final List<Integer> pieces;
        private int piece;
        private int leftOfPiece;
        long given;
        private boolean open = true;

        Pieces(byte[] stream, List<Integer> pieces) {
            this.stream = stream;
            this.pieces = pieces;
            this.leftOfPiece = pieces.getFirst();
        }

        @Override
        public long read(MemorySegment dst) {
            if (!open) throw new IllegalStateException("closed");
            if (given == stream.length) return EOF;
            if (leftOfPiece == 0) {
                leftOfPiece = -1;
                return 0;                                        // nothing ready this time
            }
            if (leftOfPiece < 0) {
                piece = (piece + 1) % pieces.size();
                leftOfPiece = Math.max(1, pieces.get(piece));    // a piece of 0 was "nothing ready", once
            }
            int n = (int) Math.min(Math.min(leftOfPiece, dst.byteSize()), stream.length - given);
            MemorySegment.copy(stream, (int) given, dst, ValueLayout.JAVA_BYTE, 0, n);
            given += n;
            leftOfPiece -= n;
            if (leftOfPiece == 0) leftOfPiece = -1;             // the next read starts the next piece
            return n;
        }

        @Override
        public int read(byte[] dst, int offset, int length) {
            return (int) read(MemorySegment.ofArray(dst).asSlice(offset, length));
        }

        @Override
        public boolean awaitReadable(Duration timeout) {
            return true;
        }

        @Override
        public void blocking(boolean blocking) {
        }

        @Override
        public boolean isBlocking() {
            return false;
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public long nativeHandle() {
            return -1;
        }

        @Override
        public InputStream asInputStream() {
            throw new UnsupportedOperationException();
        }

        @Override
        public void close() {
            open = false;
        }
    }
}
