package dev.panpipe.zerocopy.shared;

import dev.panpipe.testing.RandomCases;
import dev.panpipe.zerocopy.Deadline;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.Scribbles;
import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.Processes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.panpipe.zerocopy.shared.BlockLayout.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A shared block's header and lock are written by other processes, which may be broken or hostile.
 * Whatever they scribble there, a process that attaches the block must get either a
 * {@link SharedHeaderException} naming the field, or a block of the type it asked for whose every element
 * lies inside the mapping; and its lock must be taken, taken over from an owner that is gone (with
 * {@link LockOwnerDiedException}), or refused in time because a live process holds it: never an
 * out-of-bounds access, a raw system-call error, a wait for an owner that does not exist, or a leaked fd.
 * Where only the name, the lock or reserved bytes changed, attaching must succeed with the length made.
 *
 * <p>Each case is one to four scribbles (stores of 1, 2, 4 or 8 bytes, mostly over the header's fields and
 * the lock's words: the lock word, recoveries, owner pid, owner start time), with edge values and pids of
 * this process, of one of its threads, of init and of no process, with or without the lock's waiters bit,
 * and sometimes anywhere in the header (see {@link RandomCases} for seeds and shrinking). Each case runs
 * under a {@link Deadline}, so a lock that waits for ever fails its case, which is then shrunk. It found
 * two locks nobody could take: a word naming a thread of a live process rather than a process (hasEnded
 * took pidfd_open's ENOENT for "cannot tell"), and a word with the waiters bit but no owner pid.
 */
@Timeout(300)
@ExtendWith(NoLeaks.class)
class SharedBlockCorruptionTest {
    private static final String NAME = "block-corruption";
    /** Longer than the 50 ms after which a waiter looks at the owner. */
    private static final Duration LOOK_AT_THE_OWNER = Duration.ofMillis(55);
    /** A case takes well under a second (one wait of 55 ms at most); past this it hangs. */
    private static final Duration HANG = Duration.ofSeconds(5);

    private static final int[][] FIELDS = {
            {(int) MAGIC_OFFSET, 4}, {(int) VERSION_OFFSET, 2}, {(int) TYPE_OFFSET, 2}, {(int) LENGTH_OFFSET, 8},
            {(int) LENGTH_OFFSET, 4}, {(int) ELEMENT_SIZE_OFFSET, 4}, {(int) DATA_OFFSET_OFFSET, 4},
    };
    private static final int[][] LOCK_FIELDS = {
            {(int) (LOCK_OFFSET + SharedLock.WORD), 4}, {(int) (LOCK_OFFSET + SharedLock.RECOVERIES), 4},
            {(int) (LOCK_OFFSET + SharedLock.OWNER_PID), 4}, {(int) (LOCK_OFFSET + SharedLock.OWNER_START_TIME), 8},
    };
    private static final int[] WIDTHS = {1, 2, 4, 8};

    enum Kind { INT, LONG, DOUBLE, INT_ARRAY, LONG_ARRAY, DOUBLE_ARRAY, BYTE_ARRAY, LOCK }

    record Scribble(long offset, int width, long value) {
        void applyTo(MemorySegment s) {
            Scribbles.store(s, offset, width, value);
        }

        /**
         * Over one of {@code favoured} fields {@code weight} times in {@code weight + 5}, else over a header
         * field, a lock word, or (one time in {@code weight + 5}) anywhere in the header.
         */
        static Scribble random(Random r, int[][] favoured, int weight) {
            long value = value(r);
            int pick = r.nextInt(weight + 5);
            int[] f = pick < weight ? favoured[r.nextInt(favoured.length)]
                    : pick < weight + 2 ? FIELDS[r.nextInt(FIELDS.length)]
                    : pick < weight + 4 ? LOCK_FIELDS[r.nextInt(LOCK_FIELDS.length)]
                    : new int[]{r.nextInt((int) DATA_OFFSET - 7), WIDTHS[r.nextInt(4)]};
            return new Scribble(f[0], f[1], value);
        }

        /**
         * An edge value (small lengths and offsets among them), or a pid: this process, one of its threads
         * (most likely), init, or none, with or without the lock word's waiters bit.
         */
        private static long value(Random r) {
            int pick = r.nextInt(5);
            if (pick < 3) return RandomCases.edgyLong(r, DATA_OFFSET, 136, 1L << 30, 1L << 31);
            int[] pids = {Processes.SELF, Processes.SELF + 1, Processes.SELF + 2, 1, 4_000_000, 0};
            long pid = pids[r.nextInt(pids.length)];
            return pick == 3 ? pid : pid | 0x8000_0000L;
        }

        @Override
        public String toString() {
            return "+" + offset + " := " + value + " (0x" + Long.toHexString(value) + ", " + width + " bytes)";
        }
    }

    /** One case: the scribbles, and a block of this kind and length (the length of an array; a single value has none). */
    record Case(List<Scribble> scribbles, Kind kind, int length) {
        /** Scribbles mostly over the header's fields, on any kind of block of 0-5 elements. */
        static Case random(Random r) {
            return new Case(scribbles(r, FIELDS, 3), Kind.values()[r.nextInt(Kind.values().length)], r.nextInt(6));
        }

        /** Scribbles mostly over the lock's words, on a lock alone or the lock of an array of 3. */
        static Case lock(Random r) {
            return new Case(scribbles(r, LOCK_FIELDS, 6), r.nextBoolean() ? Kind.LOCK : Kind.LONG_ARRAY, 3);
        }

        private static List<Scribble> scribbles(Random r, int[][] favoured, int weight) {
            List<Scribble> s = new ArrayList<>();
            for (int n = 1 + r.nextInt(4); n > 0; n--) s.add(Scribble.random(r, favoured, weight));
            return List.copyOf(s);
        }

        /** Fewer scribbles, values nearer 0, a shorter array: the candidates a failure shrinks to. */
        List<Case> smaller() {
            List<Case> out = new ArrayList<>();
            for (int i = 0; i < scribbles.size() && scribbles.size() > 1; i++) {
                List<Scribble> fewer = new ArrayList<>(scribbles);
                fewer.remove(i);
                out.add(new Case(List.copyOf(fewer), kind, length));
            }
            for (int i = 0; i < scribbles.size(); i++) {
                Scribble s = scribbles.get(i);
                for (long v : RandomCases.simpler(s.value())) {
                    List<Scribble> simpler = new ArrayList<>(scribbles);
                    simpler.set(i, new Scribble(s.offset(), s.width(), v));
                    out.add(new Case(List.copyOf(simpler), kind, length));
                }
            }
            if (length > 0) out.add(new Case(scribbles, kind, length - 1));
            return out;
        }
    }

    /** Runs {@code body} under a {@link Deadline}, then checks that it left no fd (unless it failed: a stuck case may hold its block). */
    private static void guarded(String what, Deadline.Body body) throws Exception {
        Map<Integer, String> fds = NoLeaks.openFds();
        Deadline.within(HANG, what, body);
        NoLeaks.assertNoFdLeftSince(fds, what);
    }

    @Test
    void attachingGivesAHeaderErrorOrABlockInsideItsMapping() {
        RandomCases.check("block attach", 500, Case::random, Case::smaller, c -> guarded("attach with " + c, d -> {
            try (SharedBlockOrLock original = d.closeOnTimeout(create(c.kind(), c.length()));
                 SharedMemory other = Mappings.second(original.nativeHandle())) {
                MemorySegment seg = other.segment();
                byte[] before = seg.toArray(ValueLayout.JAVA_BYTE);
                c.scribbles().forEach(s -> s.applyTo(seg));
                boolean harmless = onlyNameOrLockChanged(before, seg.toArray(ValueLayout.JAVA_BYTE));
                SharedBlockOrLock attached;
                try {
                    attached = attach(c.kind(), Mappings.second(original.nativeHandle()));
                } catch (SharedHeaderException e) {
                    assertFalse(harmless, "only the name or lock changed, yet: " + e.getMessage());
                    assertNotNull(e.field(), e.getMessage());
                    assertFalse(e.field().isBlank(), e.getMessage());
                    return;
                }
                try (attached) {
                    if (harmless) assertEquals(original.length(), attached.length());
                    assertTrue(DATA_OFFSET + attached.length() * attached.elementSize() <= seg.byteSize(),
                            attached.length() + " elements in a mapping of " + seg.byteSize());
                    attached.touchEveryElement();
                }
            }
        }));
    }

    /**
     * The lock of a block or a lock on its own, its words scribbled on: taken, taken over from an owner
     * that is gone, or refused after the wait only because a live process holds it; and released again.
     */
    @Test
    void aLockIsTakenTakenOverOrHeldByALiveProcess() {
        RandomCases.check("lock", 300, Case::lock, Case::smaller, c -> guarded("lock with " + c, d -> {
            try (SharedBlockOrLock original = d.closeOnTimeout(create(c.kind(), c.length()));
                 SharedMemory other = Mappings.second(original.nativeHandle())) {
                c.scribbles().forEach(s -> s.applyTo(other.segment()));
                SharedBlockOrLock attached;
                try {
                    attached = d.closeOnTimeout(attach(c.kind(), Mappings.second(original.nativeHandle())));
                } catch (SharedHeaderException e) {
                    assertFalse(e.field().isBlank(), e.getMessage());
                    return;
                }
                try (attached) {
                    SharedLock lock = attached.lock();
                    int owner = lock.ownerPid();
                    boolean held;
                    try {
                        held = lock.tryLock() || lock.tryLock(LOOK_AT_THE_OWNER);
                    } catch (LockOwnerDiedException e) {
                        // (from a live process too, if a scribbled start time says its pid was recycled)
                        assertTrue(lock.isHeldByCurrentThread(), "taken over: " + e.getMessage());
                        held = true;
                    }
                    if (held) {
                        assertEquals(Processes.SELF, lock.ownerPid());
                        lock.unlock();
                        assertFalse(lock.isHeldByCurrentThread());
                    } else {
                        assertTrue(isLiveProcess(owner), "waited " + LOOK_AT_THE_OWNER + " for owner " + owner
                                + ", which is no live process (lock word " + Integer.toHexString(wordOf(other)) + ")");
                    }
                }
            }
        }));
    }

    private static int wordOf(SharedMemory m) {
        return m.segment().get(ValueLayout.JAVA_INT, LOCK_OFFSET + SharedLock.WORD);
    }

    /** Whether {@code pid} names a process (a thread-group leader) that has not ended: what /proc says, not what the lock asks. */
    private static boolean isLiveProcess(int pid) throws IOException {
        if (pid <= 0) return false;
        try {
            List<String> status = Files.readAllLines(Path.of("/proc/" + pid + "/status"));
            boolean leader = status.stream().anyMatch(l -> l.matches("Tgid:\\s+" + pid));
            boolean zombie = status.stream().anyMatch(l -> l.startsWith("State:") && l.contains("Z"));
            return leader && !zombie;
        } catch (NoSuchFileException e) {
            return false;
        }
    }

    /** Whether every byte that differs is in the name, the lock or the unused rest of the header. */
    private static boolean onlyNameOrLockChanged(byte[] before, byte[] after) {
        for (int o = 0; o < before.length; o++) {
            if (before[o] != after[o] && o < NAME_OFFSET) return false;
        }
        return true;
    }

    // ------------------------------------------------------------------ one face for every kind of block

    /** A block of any kind, or a lock alone, as the tests use it. */
    interface SharedBlockOrLock extends AutoCloseable {
        long nativeHandle();

        long length();

        int elementSize();

        SharedLock lock();

        /** Reads and writes back every element (and its last through the element accessor). */
        void touchEveryElement();

        @Override
        void close() throws IOException;
    }

    record Block(SharedBlock block) implements SharedBlockOrLock {
        public long nativeHandle() {
            return block.nativeHandle();
        }

        public long length() {
            return block.length();
        }

        public int elementSize() {
            return block.type().elementSize();
        }

        public SharedLock lock() {
            return block.getLock();
        }

        public void touchEveryElement() {
            long last = block.length() - 1;
            switch (block) {
                case SharedInt v -> v.set(v.get());
                case SharedLong v -> v.set(v.get());
                case SharedDouble v -> v.set(v.get());
                case SharedIntArray a -> {
                    assertEquals(a.length(), a.toArray().length);
                    if (last >= 0) a.set(last, a.get(last));
                }
                case SharedLongArray a -> {
                    assertEquals(a.length(), a.toArray().length);
                    if (last >= 0) a.set(last, a.get(last));
                }
                case SharedDoubleArray a -> {
                    assertEquals(a.length(), a.toArray().length);
                    if (last >= 0) a.set(last, a.get(last));
                }
                case SharedByteArray a -> {
                    assertEquals(a.length(), a.toArray().length);
                    if (last >= 0) a.set(last, a.get(last));
                }
            }
            if (block.length() < Integer.MAX_VALUE) {
                assertThrows(IndexOutOfBoundsException.class, () -> get(block, block.length()), "one past the end");
            }
        }

        private static void get(SharedBlock b, long index) {
            switch (b) {
                case SharedIntArray a -> a.get(index);
                case SharedLongArray a -> a.get(index);
                case SharedDoubleArray a -> a.get(index);
                case SharedByteArray a -> a.get(index);
                default -> throw new IndexOutOfBoundsException("a single value has no index");
            }
        }

        public void close() throws IOException {
            block.close();
        }
    }

    record Lock(SharedLock lock) implements SharedBlockOrLock {
        public long nativeHandle() {
            return lock.nativeHandle();
        }

        public long length() {
            return 0;
        }

        public int elementSize() {
            return 0;
        }

        public void touchEveryElement() {
        }

        public void close() throws IOException {
            lock.close();
        }
    }

    private static SharedBlockOrLock create(Kind kind, int length) throws IOException {
        return switch (kind) {
            case INT -> new Block(SharedInt.create(NAME, 1));
            case LONG -> new Block(SharedLong.create(NAME, 2));
            case DOUBLE -> new Block(SharedDouble.create(NAME, 0.5));
            case INT_ARRAY -> new Block(SharedIntArray.create(NAME, length));
            case LONG_ARRAY -> new Block(SharedLongArray.create(NAME, length));
            case DOUBLE_ARRAY -> new Block(SharedDoubleArray.create(NAME, length));
            case BYTE_ARRAY -> new Block(SharedByteArray.create(NAME, length));
            case LOCK -> new Lock(SharedLock.create(NAME));
        };
    }

    private static SharedBlockOrLock attach(Kind kind, SharedMemory m) throws IOException {
        return switch (kind) {
            case INT -> new Block(SharedInt.attach(m));
            case LONG -> new Block(SharedLong.attach(m));
            case DOUBLE -> new Block(SharedDouble.attach(m));
            case INT_ARRAY -> new Block(SharedIntArray.attach(m));
            case LONG_ARRAY -> new Block(SharedLongArray.attach(m));
            case DOUBLE_ARRAY -> new Block(SharedDoubleArray.attach(m));
            case BYTE_ARRAY -> new Block(SharedByteArray.attach(m));
            case LOCK -> new Lock(SharedLock.attach(m));
        };
    }
}
