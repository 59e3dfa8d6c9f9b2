package dev.panpipe.zerocopy.queue;

import dev.panpipe.testing.RandomCases;
import dev.panpipe.zerocopy.Deadline;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.Scribbles;
import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.Processes;
import dev.panpipe.zerocopy.shared.SharedHeaderException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static dev.panpipe.zerocopy.queue.QueueLayout.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A shared queue's header and slots are written by other processes, which may be broken or hostile.
 * Whatever they scribble there, a process that attaches the queue must get either a queue whose every
 * call returns in time with a message inside its bounds, nothing, or {@code false}, or a typed error
 * naming what is wrong: never an out-of-bounds access, a hang, a raw system-call error, or a leaked fd.
 * And where the scribbles touched nothing that carries messages (the wake-up words, the reclaimed
 * counter, the name, reserved bytes, claimers' start times, payload bytes past a message's end), every
 * message must come out exactly as it went in, in order, with none lost: a model queue says what each call
 * returns.
 *
 * <p>Each case is one to four scribbles (stores of 1, 2, 4 or 8 bytes, mostly over the layout's fields:
 * header fields, head, tail and the two wake-up words; a slot's sequence, writer and reader claims,
 * claimer's start time and length), with edge values, claim words naming this process, a thread of it,
 * init, or a pid nobody has, and start times (this process's or another) tagged for positions in use, and
 * sometimes anywhere in the header or a slot (see {@link RandomCases} for seeds and shrinking).
 * Before the scribbles a few messages go round (so positions have lapped) and some are left in the queue;
 * after them a second handle attaches the memory through a dup of its fd and makes a random series of
 * calls, every one of them bounded: the timed variants with a timeout of 1 ms, and now and then 60 ms,
 * long enough for the look for dead claimers that a blocked caller makes every 50 ms. Each case runs under
 * a {@link Deadline}, so a call that spins on a corrupt slot fails its case, which is then shrunk, rather
 * than the whole method. It found that a slot word fitting no state of the ring (one sequence word with 4
 * bytes written over) made claimWriteNow and claimReadNow spin for ever; they throw a
 * {@link CorruptQueueException} now.
 */
@Timeout(300)
@ExtendWith(NoLeaks.class)
class SharedQueueCorruptionTest {
    /** QueueLayout.slotSize(m) for every maximum message size used here. */
    private static final int SLOT = 64;
    private static final int MAX_CAPACITY = 8;
    private static final int[] MAX_MESSAGES = {0, 8, 13, 24};
    private static final String NAME = "queue-corruption";
    private static final Duration SHORT = Duration.ofMillis(1);
    /** Longer than the 50 ms after which a blocked caller looks for a dead claimer. */
    private static final Duration LOOK_FOR_THE_DEAD = Duration.ofMillis(60);
    /**
     * A case takes well under a second (12 calls of 60 ms at most, most of them 1 ms); past this it hangs.
     * Every step of shrinking a hang waits this long, so it is not much longer.
     */
    private static final Duration HANG = Duration.ofSeconds(2);

    /** The header's fields: offset and width. */
    private static final int[][] HEADER_FIELDS = {
            {(int) MAGIC_OFFSET, 4}, {(int) VERSION_OFFSET, 4}, {(int) CAPACITY_OFFSET, 4}, {(int) MAX_MESSAGE_OFFSET, 4},
            {(int) SLOT_SIZE_OFFSET, 4}, {(int) RECLAIMED_OFFSET, 8}, {(int) TAIL_OFFSET, 8}, {(int) TAIL_OFFSET, 4},
            {(int) HEAD_OFFSET, 8}, {(int) HEAD_OFFSET, 4}, {(int) NOT_EMPTY_OFFSET, 4}, {(int) NOT_FULL_OFFSET, 4},
    };
    /** A slot's fields: offset within the slot and width (the low half of a claim is its pid, the high its position). */
    private static final int[][] SLOT_FIELDS = {
            {(int) SEQUENCE, 8}, {(int) SEQUENCE, 4}, {(int) WRITER, 8}, {(int) WRITER, 4}, {(int) WRITER + 4, 4},
            {(int) READER, 8}, {(int) READER, 4}, {(int) READER + 4, 4}, {(int) LENGTH, 4}, {(int) CLAIMER_START, 8},
            {(int) CLAIMER_START, 4}, {(int) CLAIMER_START + 4, 4}, {(int) PAYLOAD, 8},
    };
    private static final int[] WIDTHS = {1, 2, 4, 8};

    /** A store of the low {@code width} bytes of {@code value} at {@code at} of slot {@code slot}, or of the header if {@code slot < 0}. */
    record Scribble(int slot, long at, int width, long value) {
        long offset(int capacity) {
            return slot < 0 ? at : SLOTS_OFFSET + (long) (slot & (capacity - 1)) * SLOT + at;
        }

        void applyTo(MemorySegment s, int capacity) {
            Scribbles.store(s, offset(capacity), width, value);
        }

        /** Mostly a field of the header or of a slot, sometimes anywhere in either. */
        static Scribble random(Random r) {
            long value = value(r);
            return switch (r.nextInt(4)) {
                case 0 -> {
                    int[] f = HEADER_FIELDS[r.nextInt(HEADER_FIELDS.length)];
                    yield new Scribble(-1, f[0], f[1], value);
                }
                case 1 -> {
                    int[] f = SLOT_FIELDS[r.nextInt(SLOT_FIELDS.length)];
                    yield new Scribble(r.nextInt(MAX_CAPACITY), f[0], f[1], value);
                }
                case 2 -> new Scribble(-1, r.nextInt((int) SLOTS_OFFSET - 7), WIDTHS[r.nextInt(4)], value);
                default -> new Scribble(r.nextInt(MAX_CAPACITY), r.nextInt(SLOT - 7), WIDTHS[r.nextInt(4)], value);
            };
        }

        /**
         * An edge value (small positions, lengths and counts among them, a page, a slot, the largest capacity),
         * a claim word: a position near the ones in use, and this process, one of its threads (most likely),
         * init, or a pid no process has; or a claimer's start time for such a position: this process's, another,
         * 0 or unknown.
         */
        private static long value(Random r) {
            int pick = r.nextInt(8);
            if (pick > 2) return RandomCases.edgyLong(r, 4096, SLOT, QueueLayout.MAX_CAPACITY);
            if (pick == 2) {
                int[] starts = {(int) Processes.SELF_START_TIME, (int) Processes.SELF_START_TIME + 1, 0, UNKNOWN_START};
                return startRecord(r.nextInt(25) - 8, starts[r.nextInt(starts.length)]);
            }
            int[] pids = {Processes.SELF, Processes.SELF + 1, 1, 4_000_000, 0};
            return claimWord(r.nextInt(25) - 8, pids[r.nextInt(pids.length)]);
        }

        @Override
        public String toString() {
            return (slot < 0 ? "header+" + at : "slot " + slot + "+" + at) + " := " + value + " (" + width + " bytes)";
        }
    }

    enum Op {
        POLL_NOW, POLL, POLL_LONG_WAIT, POLL_INTO_4_BYTES, POLL_INTO_64_BYTES, POLL_LONG, POLL_INT, POLL_IN_PLACE,
        OFFER_NOW, OFFER, OFFER_LONG_WAIT, OFFER_LONG, CLAIM_AND_COMMIT, SIZE;

        private static final Op[] POLLS = {POLL_NOW, POLL, POLL_INTO_4_BYTES, POLL_INTO_64_BYTES, POLL_LONG, POLL_INT, POLL_IN_PLACE};
        private static final Op[] OFFERS = {OFFER_NOW, OFFER, OFFER_LONG, CLAIM_AND_COMMIT, SIZE};
        private static final Op[] LONG_WAITS = {POLL_LONG_WAIT, OFFER_LONG_WAIT};

        /** A poll six times in eleven, an offer (or size) four, a call that waits long enough to look for the dead one. */
        static Op random(Random r) {
            int pick = r.nextInt(11);
            Op[] from = pick < 6 ? POLLS : pick < 10 ? OFFERS : LONG_WAITS;
            return from[r.nextInt(from.length)];
        }
    }

    /**
     * One case: the scribbles; the calls the second handle makes; a queue of 2, 4 or 8 slots for messages of
     * up to {@code maxMessage} bytes; how many messages went round before, and how many were left in it.
     */
    record Case(List<Scribble> scribbles, List<Op> ops, int log2Capacity, int maxMessage, int lapped, int left) {
        static Case random(Random r) {
            List<Scribble> s = new ArrayList<>();
            for (int n = 1 + r.nextInt(4); n > 0; n--) s.add(Scribble.random(r));
            List<Op> ops = new ArrayList<>();
            for (int n = 1 + r.nextInt(12); n > 0; n--) ops.add(Op.random(r));
            return new Case(List.copyOf(s), List.copyOf(ops), 1 + r.nextInt(3), MAX_MESSAGES[r.nextInt(MAX_MESSAGES.length)],
                    r.nextInt(10), r.nextInt(9));
        }

        /** Scribbles on a new queue, attached and no more: no calls, nothing sent before. */
        static Case attachOnly(Random r) {
            Case c = random(r);
            return new Case(c.scribbles, List.of(), c.log2Capacity, c.maxMessage, 0, 0);
        }

        int capacity() {
            return 1 << log2Capacity;
        }

        /**
         * Fewer scribbles, values nearer 0, fewer calls (halves first, then one), a smaller queue and maximum
         * message, fewer messages before: the candidates a failure shrinks to.
         */
        List<Case> smaller() {
            List<Case> out = new ArrayList<>();
            for (int i = 0; i < scribbles.size() && scribbles.size() > 1; i++) {
                List<Scribble> fewer = new ArrayList<>(scribbles);
                fewer.remove(i);
                out.add(withScribbles(fewer));
            }
            for (List<Op> fewer : RandomCases.withoutRuns(ops)) out.add(new Case(scribbles, fewer, log2Capacity, maxMessage, lapped, left));
            for (int i = 0; i < scribbles.size(); i++) {
                Scribble s = scribbles.get(i);
                for (long v : RandomCases.simpler(s.value())) {
                    List<Scribble> simpler = new ArrayList<>(scribbles);
                    simpler.set(i, new Scribble(s.slot(), s.at(), s.width(), v));
                    out.add(withScribbles(simpler));
                }
            }
            if (log2Capacity > 1) out.add(new Case(scribbles, ops, log2Capacity - 1, maxMessage, lapped, left));
            for (int m : MAX_MESSAGES) if (m < maxMessage) out.add(new Case(scribbles, ops, log2Capacity, m, lapped, left));
            if (lapped > 0) out.add(new Case(scribbles, ops, log2Capacity, maxMessage, 0, left));
            if (lapped > 1) out.add(new Case(scribbles, ops, log2Capacity, maxMessage, lapped - 1, left));
            if (left > 0) out.add(new Case(scribbles, ops, log2Capacity, maxMessage, lapped, 0));
            if (left > 1) out.add(new Case(scribbles, ops, log2Capacity, maxMessage, lapped, left - 1));
            return out;
        }

        private Case withScribbles(List<Scribble> s) {
            return new Case(List.copyOf(s), ops, log2Capacity, maxMessage, lapped, left);
        }
    }

    /**
     * Runs {@code body} on case {@code c} under a {@link Deadline}, then checks that it left no fd and no name in
     * /dev/shm (unless it failed already: a case stuck past its deadline may still hold its queue).
     */
    private static void guarded(String what, Deadline.Body body) throws Exception {
        Map<Integer, String> fds = NoLeaks.openFds();
        Set<String> shm = shmNames();
        Deadline.within(HANG, what, body);
        NoLeaks.assertNoFdLeftSince(fds, what);
        assertEquals(shm, shmNames(), "/dev/shm after " + what);
    }

    @Test
    void attachingGivesAHeaderErrorOrAQueueThatFitsItsMapping() {
        RandomCases.check("queue attach", 300, Case::attachOnly, Case::smaller, c -> guarded("attach with " + c, d -> {
            try (SharedQueue original = d.closeOnTimeout(SharedQueue.create(NAME, c.capacity(), c.maxMessage()));
                 SharedMemory other = Mappings.second(original.nativeHandle())) {
                MemorySegment seg = other.segment();
                c.scribbles().forEach(s -> s.applyTo(seg, c.capacity()));
                SharedQueue q;
                try {
                    q = SharedQueue.attach(Mappings.second(original.nativeHandle()));
                } catch (SharedHeaderException e) {
                    assertNamesAField(e);
                    return;
                }
                try (q) {
                    long end = SLOTS_OFFSET + (long) q.capacity() * QueueLayout.slotSize(q.maxMessageSize());
                    assertTrue(end <= seg.byteSize(), "slots end at " + end + " in a mapping of " + seg.byteSize());
                    assertTrue(q.size() >= 0 && q.size() <= q.capacity());
                }
            }
        }));
    }

    /**
     * Messages go round, some stay, the memory is scribbled on, and a second handle makes a series of
     * bounded calls: each gives a message inside its bounds, nothing, or a typed error. If the scribbles
     * changed nothing that carries messages, a model queue says exactly what each call returns. Prints how
     * often the model applied and which fields the typed errors named.
     */
    @Test
    void everyCallReturnsInTimeWithAMessageInsideItsBoundsNothingOrATypedError() {
        Map<String, Integer> outcomes = new ConcurrentSkipListMap<>();
        RandomCases.check("queue calls", 400, Case::random, Case::smaller, c -> guarded(c.toString(), d -> {
            int capacity = c.capacity(), maxMessage = c.maxMessage();
            try (SharedQueue original = d.closeOnTimeout(SharedQueue.create(NAME, capacity, maxMessage));
                 SharedMemory other = Mappings.second(original.nativeHandle())) {
                MemorySegment seg = other.segment();   // the mapping of the process that writes over it
                for (int i = 0; i < c.lapped(); i++) {
                    assertTrue(original.offer(message(i, maxMessage)));
                    assertNotNull(original.poll());
                }
                Deque<byte[]> model = new ArrayDeque<>();
                int[] lengthAt = new int[capacity];
                Arrays.fill(lengthAt, -1);
                for (int i = 0; i < Math.min(c.left(), capacity); i++) {
                    byte[] m = message(c.lapped() + i, maxMessage);
                    assertTrue(original.offer(m));
                    model.add(m);
                    lengthAt[(c.lapped() + i) & (capacity - 1)] = m.length;
                }
                byte[] before = seg.toArray(ValueLayout.JAVA_BYTE);
                c.scribbles().forEach(s -> s.applyTo(seg, capacity));
                boolean strict = onlyHarmlessBytesChanged(before, seg.toArray(ValueLayout.JAVA_BYTE), lengthAt);
                outcomes.merge(strict ? "model applies" : "bounds only", 1, Integer::sum);
                SharedQueue q;
                try {
                    q = d.closeOnTimeout(SharedQueue.attach(Mappings.second(original.nativeHandle())));
                } catch (SharedHeaderException e) {
                    outcomes.merge("header error: " + e.field(), 1, Integer::sum);
                    assertFalse(strict, "a harmless scribble made attach fail: " + e.getMessage());
                    assertNamesAField(e);
                    return;
                }
                try (q) {
                    for (int k = 0; k < c.ops().size(); k++) {
                        call(q, c.ops().get(k), k, strict ? model : null, outcomes);
                    }
                }
            }
        }));
        System.out.println("queue calls on scribbled queues: " + outcomes);
    }

    /** Makes call {@code op}; checks its result against {@code model} if given, else only its bounds. */
    private static void call(SharedQueue q, Op op, int k, Deque<byte[]> model, Map<String, Integer> outcomes) throws InterruptedException {
        int max = q.maxMessageSize();
        byte[] expected = model == null ? null : model.peek();
        try {
            switch (op) {
                case POLL_NOW, POLL, POLL_LONG_WAIT -> {
                    byte[] m = switch (op) {
                        case POLL_NOW -> q.poll();
                        case POLL -> q.poll(SHORT);
                        default -> q.poll(LOOK_FOR_THE_DEAD);
                    };
                    if (m != null) assertTrue(m.length <= max, op + " gave " + m.length + " bytes, the maximum is " + max);
                    if (model != null) {
                        assertArrayEquals(expected, m, op.toString());
                        model.poll();
                    }
                }
                case POLL_INTO_4_BYTES, POLL_INTO_64_BYTES -> {
                    try (Arena arena = Arena.ofConfined()) {
                        MemorySegment dst = arena.allocate(op == Op.POLL_INTO_4_BYTES ? 4 : 64);
                        if (model != null && expected != null && expected.length > Math.min(dst.byteSize(), max)) {
                            assertThrows(IllegalStateException.class, () -> q.poll(dst, SHORT), "a message of " + expected.length + " bytes into " + dst.byteSize());
                            return;
                        }
                        int n = q.poll(dst, SHORT);
                        assertTrue(n == SharedQueue.EMPTY || (n >= 0 && n <= Math.min(dst.byteSize(), max)), op + " gave " + n);
                        if (model != null) {
                            assertArrayEquals(expected, n < 0 ? null : dst.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), op.toString());
                            model.poll();
                        }
                    }
                }
                case POLL_LONG, POLL_INT -> {
                    int size = op == Op.POLL_LONG ? 8 : 4;
                    if (model != null && expected != null && expected.length != size) {
                        assertThrows(IllegalStateException.class, () -> {
                            if (op == Op.POLL_LONG) q.pollLong(SHORT);
                            else q.pollInt(SHORT);
                        }, op + " of " + expected.length + " bytes");
                        return;
                    }
                    long got;
                    boolean present;
                    if (op == Op.POLL_LONG) {
                        OptionalLong v = q.pollLong(SHORT);
                        present = v.isPresent();
                        got = v.orElse(0);
                    } else {
                        OptionalInt v = q.pollInt(SHORT);
                        present = v.isPresent();
                        got = v.orElse(0);
                    }
                    if (model != null) {
                        assertEquals(expected != null, present, op.toString());
                        if (present) {
                            MemorySegment e = MemorySegment.ofArray(model.poll());
                            assertEquals(size == 8 ? e.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) : e.get(ValueLayout.JAVA_INT_UNALIGNED, 0), got, op.toString());
                        }
                    }
                }
                case POLL_IN_PLACE -> {
                    byte[][] seen = new byte[1][];
                    boolean got = q.poll(m -> {
                        assertTrue(m.byteSize() <= max, "a message of " + m.byteSize() + " bytes, the maximum is " + max);
                        seen[0] = m.toArray(ValueLayout.JAVA_BYTE);   // every byte of it readable
                    }, SHORT);
                    assertEquals(got, seen[0] != null);
                    if (model != null) {
                        assertArrayEquals(expected, seen[0], op.toString());
                        model.poll();
                    }
                }
                case OFFER_NOW, OFFER, OFFER_LONG_WAIT -> {
                    byte[] m = message(100 + k, max);
                    boolean added = switch (op) {
                        case OFFER_NOW -> q.offer(m);
                        case OFFER -> q.offer(m, SHORT);
                        default -> q.offer(m, LOOK_FOR_THE_DEAD);
                    };
                    offered(model, q, m, added, op);
                }
                case OFFER_LONG -> {
                    long v = 0x0102030405060708L * (k + 1);
                    if (max < 8) {
                        assertThrows(IllegalArgumentException.class, () -> q.offerLong(v, SHORT));
                        return;
                    }
                    byte[] m = new byte[8];
                    MemorySegment.ofArray(m).set(ValueLayout.JAVA_LONG_UNALIGNED, 0, v);
                    offered(model, q, m, q.offerLong(v, SHORT), op);
                }
                case CLAIM_AND_COMMIT -> {
                    QueueClaim claim = new QueueClaim();
                    boolean claimed = q.tryClaim(claim);
                    byte[] m = message(200 + k, Math.min(3, max));
                    if (claimed) {
                        assertEquals(max, claim.buffer().byteSize());
                        MemorySegment.copy(m, 0, claim.buffer(), ValueLayout.JAVA_BYTE, 0, m.length);
                        claim.commit(m.length);
                    }
                    offered(model, q, m, claimed, op);
                }
                case SIZE -> {
                    int size = q.size();
                    assertTrue(size >= 0 && size <= q.capacity(), "size " + size);
                    if (model != null) assertEquals(model.size(), size);
                }
            }
        } catch (CorruptQueueException e) {
            outcomes.merge("queue error: " + e.field(), 1, Integer::sum);
            if (model != null) throw e;
            assertNotNull(e.field(), e.getMessage());
            assertFalse(e.field().isBlank(), e.getMessage());
            assertTrue(e.getMessage().contains(e.field()), e.getMessage());
        } catch (IllegalStateException e) {
            // a message of a valid length that does not fit the call (it stays): the caller's mistake, not corruption
            if (model != null || !e.getMessage().contains("stays in the queue")) throw e;
        }
    }

    private static void offered(Deque<byte[]> model, SharedQueue q, byte[] m, boolean added, Op op) {
        if (model == null) return;
        assertEquals(model.size() < q.capacity(), added, op + " with " + model.size() + " of " + q.capacity() + " in the queue");
        if (added) model.add(m);
    }

    /** Message {@code i}: {@code (i * 5 + 3) % (max + 1)} bytes of {@code i + 1}. */
    private static byte[] message(int i, int max) {
        byte[] m = new byte[(i * 5 + 3) % (max + 1)];
        Arrays.fill(m, (byte) (i + 1));
        return m;
    }

    /**
     * Whether every byte that differs lies where it cannot change what is delivered: a reserved byte, the
     * reclaimed counter, the name, a wake-up word, a claimer's start time (it speaks only for a live claim, and
     * none is live when the scribbles land; a claim written over is not harmless), or a payload byte past the
     * end of its slot's message.
     */
    private static boolean onlyHarmlessBytesChanged(byte[] before, byte[] after, int[] lengthAt) {
        for (int o = 0; o < before.length; o++) {
            if (before[o] == after[o]) continue;
            if (o < SLOTS_OFFSET) {
                boolean harmless = (o >= 20 && o < TAIL_OFFSET) || (o >= TAIL_OFFSET + 8 && o < HEAD_OFFSET)
                        || (o >= HEAD_OFFSET + 8 && o < SLOTS_OFFSET);
                if (!harmless) return false;
            } else {
                int slot = (int) ((o - SLOTS_OFFSET) / SLOT);
                int at = (int) ((o - SLOTS_OFFSET) % SLOT);
                boolean harmless = (at >= LENGTH + 4 && at < PAYLOAD) || (at >= PAYLOAD + Math.max(0, lengthAt[slot]));
                if (!harmless) return false;
            }
        }
        return true;
    }

    private static void assertNamesAField(SharedHeaderException e) {
        assertNotNull(e.field(), e.getMessage());
        assertFalse(e.field().isBlank(), e.getMessage());
    }

    /** Names in /dev/shm of this class's queues (another build's tests may come and go there meanwhile). */
    private static Set<String> shmNames() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/dev/shm"))) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(SharedMemory.NAME_PREFIX + NAME))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
    }
}
