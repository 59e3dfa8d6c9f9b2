package dev.panpipe.zerocopy.queue;

import dev.panpipe.testing.RandomCases;
import dev.panpipe.zerocopy.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Random sequences of every non-blocking call of a {@link SharedQueue} — offers of bytes, ints and longs,
 * in-place claims committed or aborted, polls into arrays, segments of several sizes, ints, longs and
 * handlers (some of which throw), too-long messages, size — played against a model: a list of entries,
 * each committed (with its bytes), claimed and not yet committed, or aborted. The queue must agree with the
 * model on every call: which message comes next (a claimed entry at the head hides the ones behind it, an
 * aborted one is skipped), full exactly at capacity counting claimed and aborted entries still in place, a
 * message of the wrong length refused and left in place, a handler's message gone even when it throws, and
 * every byte intact; and leave no fd. Everything runs in one thread, so a failing sequence is exact and
 * {@link RandomCases} shrinks it.
 */
@Timeout(120)
@ExtendWith(NoLeaks.class)
class SharedQueueModelTest {
    private static final int MAX_MESSAGE = 24;

    enum Kind { OFFER, OFFER_INT, OFFER_LONG, OFFER_TOO_LONG, CLAIM, COMMIT, ABORT, POLL, POLL_INTO, POLL_INT, POLL_LONG, POLL_HANDLER, SIZE }

    private static final int[] WEIGHTS = {10, 4, 4, 1, 5, 4, 2, 8, 5, 4, 4, 4, 2};

    /** One call; {@code arg} picks a length, a claim (0 or 1), a destination size, or whether a handler throws. */
    record Step(Kind kind, int arg) {
        @Override
        public String toString() {
            return kind + "(" + arg + ")";
        }
    }

    record Case(List<Step> steps, int log2Capacity) {
        static Case random(Random r) {
            List<Step> steps = new ArrayList<>();
            for (int n = 1 + r.nextInt(80); n > 0; n--) {
                steps.add(new Step(Kind.values()[RandomCases.weighted(r, WEIGHTS)], r.nextInt(MAX_MESSAGE + 1)));
            }
            return new Case(List.copyOf(steps), 1 + r.nextInt(3));
        }

        /** Without a run of steps (halves first, then single steps), or with a smaller queue. */
        List<Case> smaller() {
            List<Case> out = new ArrayList<>();
            for (List<Step> fewer : RandomCases.withoutRuns(steps)) out.add(new Case(fewer, log2Capacity));
            if (log2Capacity > 1) out.add(new Case(steps, log2Capacity - 1));
            return out;
        }
    }

    /** An entry of the model: committed bytes, a claim not committed yet (by claim index), or aborted. */
    private static final class Entry {
        byte[] bytes;          // null while claimed, or once aborted
        int claim = -1;        // the claim holding it, while claimed
        boolean aborted;

        static Entry of(byte[] b) {
            Entry e = new Entry();
            e.bytes = b;
            return e;
        }
    }

    @Test
    void theQueueAgreesWithAModelListOnEveryCall() {
        RandomCases.check("queue model", 400, Case::random, Case::smaller, c -> {
            Map<Integer, String> fds = NoLeaks.openFds();
            try (SharedQueue q = SharedQueue.create("model", 1 << c.log2Capacity(), MAX_MESSAGE);
                 Arena arena = Arena.ofConfined()) {
                new Run(q, arena).play(c.steps());
            } finally {
                NoLeaks.assertNoFdLeftSince(fds, "steps " + c.steps());
            }
        });
    }

    private static final class Run {
        private final SharedQueue q;
        private final Arena arena;
        private final LinkedList<Entry> model = new LinkedList<>();
        private final QueueClaim[] claims = {new QueueClaim(), new QueueClaim()};
        private final Entry[] claimed = new Entry[2];
        private int made;   // messages made so far: each message's bytes differ

        Run(SharedQueue q, Arena arena) {
            this.q = q;
            this.arena = arena;
        }

        void play(List<Step> steps) throws Exception {
            for (Step s : steps) {
                int arg = s.arg();
                switch (s.kind()) {
                    case OFFER -> offer(message(arg), q::offer);
                    case OFFER_INT -> {
                        int v = 1000 + made++;
                        offer(le(Integer.BYTES, v), b -> q.offerInt(v));
                    }
                    case OFFER_LONG -> {
                        long v = -1000L - made++;
                        offer(le(Long.BYTES, v), b -> q.offerLong(v));
                    }
                    case OFFER_TOO_LONG -> assertThrows(IllegalArgumentException.class, () -> q.offer(new byte[MAX_MESSAGE + 1 + arg]));
                    case CLAIM -> claim(arg % 2);
                    case COMMIT -> commit(arg % 2, arg);
                    case ABORT -> abort(arg % 2);
                    case POLL -> poll();
                    case POLL_INTO -> pollInto(arg);
                    case POLL_INT -> pollFixed(Integer.BYTES);
                    case POLL_LONG -> pollFixed(Long.BYTES);
                    case POLL_HANDLER -> pollHandler(arg % 3 == 0);
                    case SIZE -> assertEquals(model.size(), q.size(), "size");
                }
            }
        }

        private interface Offer {
            boolean offer(byte[] b);
        }

        private void offer(byte[] bytes, Offer offer) {
            boolean full = model.size() == q.capacity();
            assertEquals(!full, offer.offer(bytes), full ? "an offer succeeded with every slot taken" : "an offer failed with room");
            if (!full) model.add(Entry.of(bytes));
        }

        private void claim(int k) {
            if (claims[k].isActive()) {
                assertThrows(IllegalStateException.class, () -> q.tryClaim(claims[k]));
                return;
            }
            boolean full = model.size() == q.capacity();
            assertEquals(!full, q.tryClaim(claims[k]));
            if (full) return;
            Entry e = new Entry();
            e.claim = k;
            claimed[k] = e;
            model.add(e);
        }

        private void commit(int k, int length) {
            if (!claims[k].isActive()) {
                assertThrows(IllegalStateException.class, () -> claims[k].commit(0));
                return;
            }
            byte[] bytes = message(length);
            MemorySegment.copy(bytes, 0, claims[k].buffer(), ValueLayout.JAVA_BYTE, 0, bytes.length);
            claims[k].commit(bytes.length);
            claimed[k].bytes = bytes;
            claimed[k].claim = -1;
            claimed[k] = null;
        }

        private void abort(int k) {
            if (!claims[k].isActive()) {
                assertThrows(IllegalStateException.class, claims[k]::abort);
                return;
            }
            claims[k].abort();
            claimed[k].aborted = true;
            claimed[k].claim = -1;
            claimed[k] = null;
        }

        /** The model's next message: aborted entries at the head are skipped (and go), a claimed one hides the rest. */
        private Entry head() {
            while (!model.isEmpty() && model.getFirst().aborted) model.removeFirst();
            Entry e = model.peekFirst();
            return e == null || e.claim >= 0 ? null : e;
        }

        private void poll() {
            Entry e = head();
            byte[] got = q.poll();
            if (e == null) {
                assertNull(got, "a message came that the model does not have ready");
                return;
            }
            assertArrayEquals(e.bytes, got);
            model.removeFirst();
        }

        private void pollInto(int room) {
            Entry e = head();
            MemorySegment dst = arena.allocate(Math.max(1, room)).asSlice(0, room);
            if (e != null && e.bytes.length > room) {
                assertThrows(IllegalStateException.class, () -> q.poll(dst), "a message longer than the destination");
                return;   // it stays
            }
            int n = q.poll(dst);
            if (e == null) {
                assertEquals(SharedQueue.EMPTY, n);
                return;
            }
            assertEquals(e.bytes.length, n);
            assertArrayEquals(e.bytes, dst.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE));
            model.removeFirst();
        }

        private void pollFixed(int size) throws InterruptedException {
            Entry e = head();
            if (e != null && e.bytes.length != size) {
                assertThrows(IllegalStateException.class, () -> pollValue(size), "a message of " + e.bytes.length + " bytes as a " + size + "-byte one");
                return;   // it stays
            }
            long[] got = pollValue(size);
            if (e == null) {
                assertNull(got);
                return;
            }
            assertNotNull(got, "the model's " + size + "-byte message did not come");
            assertArrayEquals(e.bytes, le(size, got[0]));
            model.removeFirst();
        }

        private long[] pollValue(int size) throws InterruptedException {
            if (size == Integer.BYTES) {
                OptionalInt v = q.pollInt(Duration.ZERO);
                return v.isPresent() ? new long[]{v.getAsInt()} : null;
            }
            OptionalLong v = q.pollLong(Duration.ZERO);
            return v.isPresent() ? new long[]{v.getAsLong()} : null;
        }

        private void pollHandler(boolean handlerThrows) {
            Entry e = head();
            byte[][] seen = new byte[1][];
            MessageHandler handler = m -> {
                seen[0] = m.toArray(ValueLayout.JAVA_BYTE);
                if (handlerThrows) throw new IllegalArgumentException("the handler's own failure");
            };
            if (e != null && handlerThrows) {
                assertThrows(IllegalArgumentException.class, () -> q.poll(handler));
            } else {
                assertEquals(e != null, q.poll(handler));
            }
            if (e == null) {
                assertNull(seen[0], "the handler was called with no message ready");
                return;
            }
            assertArrayEquals(e.bytes, seen[0]);
            model.removeFirst();   // taken, even when the handler threw
        }

        /** {@code length} bytes that differ from every other message's. */
        private byte[] message(int length) {
            byte[] b = new byte[length];
            int id = made++;
            for (int i = 0; i < length; i++) b[i] = (byte) (id * 31 + i);
            return b;
        }

        private static byte[] le(int size, long v) {
            ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
            if (size == Integer.BYTES) b.putInt((int) v);
            else b.putLong(v);
            return b.array();
        }
    }
}
