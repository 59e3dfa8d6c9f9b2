package dev.panpipe.zerocopy.ring;

import dev.panpipe.connection.ProtocolException;
import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Subprocess;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.Scribbles;
import dev.panpipe.testing.RandomCases;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A ring's header and descriptors are written by another process, which may be broken or hostile. Whatever
 * it scribbles there, this process must get either a working ring whose views lie inside their slots, or a
 * typed error: never an out-of-bounds access, a view of the wrong memory, a hang, or a leaked fd; and the C
 * header's consumer must never crash or trip a sanitizer.
 *
 * <p>Each case is one to four scribbles (stores of 1, 2, 4 or 8 bytes, mostly over the layout's own fields,
 * often with edge values such as 0, -1, 1 and the extremes, sometimes anywhere in the header and descriptor
 * table) on a ring of 1, 2 or 4 slots holding 0-4 committed frames (see {@link RandomCases} for seeds and
 * shrinking). {@code FrameRingTest} checks that each field's error names it; this class checks the
 * combinations. Two bugs were found this way: a pid word holding a thread id escaped as a raw
 * SyscallException, and the C and Python peers waited for ever on it.
 */
@Timeout(300)
@ExtendWith(NoChildrenLeft.class)
class FrameRingCorruptionTest {
    private static final int SLOT_BYTES = 4096;

    /** The layout's fields: offset and width. */
    private static final int[][] FIELDS = {
            {MAGIC_OFFSET, 4}, {VERSION_OFFSET, 2}, {HEADER_LENGTH_OFFSET, 2}, {SLOT_COUNT_OFFSET, 4},
            {FLAGS_OFFSET, 4}, {SLOT_SIZE_OFFSET, 8}, {SLOTS_OFFSET_OFFSET, 8}, {RING_LENGTH_OFFSET, 8},
            {PRODUCER_PID_OFFSET, 4}, {CONSUMER_PID_OFFSET, 4}, {PRODUCER_STATE_OFFSET, 4}, {CONSUMER_STATE_OFFSET, 4},
            {PRODUCER_POSITION_OFFSET, 8}, {PRODUCER_POSITION_OFFSET, 4}, {PRODUCER_CPU_OFFSET, 4},
            {CONSUMER_POSITION_OFFSET, 8}, {CONSUMER_POSITION_OFFSET, 4}, {CONSUMER_CPU_OFFSET, 4},
            {CONSUMER_WAITING_OFFSET, 4}, {PRODUCER_WAITING_OFFSET, 4},
    };
    /** A descriptor's fields: offset within the descriptor and width. */
    private static final int[][] DESCRIPTOR_FIELDS = {
            {SEQUENCE_OFFSET, 8}, {TIMESTAMP_OFFSET, 8}, {PAYLOAD_LENGTH_OFFSET, 8}, {WIDTH_OFFSET, 4},
            {HEIGHT_OFFSET, 4}, {STRIDE_OFFSET, 4}, {PIXEL_FORMAT_OFFSET, 4},
    };
    /** Values that mean something in this layout: page sizes, slot counts, states. */
    private static final long[] LAYOUT_EDGES = {2, 3, 4, 4095, 4096, 4097, 8192, 1 << 16, 1 << 17, MAGIC, VERSION, HEADER_LENGTH};

    /** One store of the low {@code width} bytes of {@code value} at {@code offset} (little-endian). */
    record Scribble(long offset, int width, long value) {
        void applyTo(MemorySegment s) {
            Scribbles.store(s, offset, width, value);
        }

        static Scribble random(Random r) {
            long value = RandomCases.edgyLong(r, LAYOUT_EDGES);
            switch (r.nextInt(5)) {
                case 0, 1 -> {
                    int[] f = FIELDS[r.nextInt(FIELDS.length)];
                    return new Scribble(f[0], f[1], value);
                }
                case 2, 3 -> {
                    int[] f = DESCRIPTOR_FIELDS[r.nextInt(DESCRIPTOR_FIELDS.length)];
                    return new Scribble(descriptorOffset(r.nextInt(4)) + f[0], f[1], value);
                }
                // anywhere in the header and the descriptor table (4 descriptors at most here)
                default -> {
                    return new Scribble(r.nextInt(HEADER_LENGTH + 4 * DESCRIPTOR_LENGTH - 8), new int[]{1, 2, 4, 8}[r.nextInt(4)], value);
                }
            }
        }
    }

    /** One case: the ring's size, what was committed before the scribbles, the scribbles, and one choice. */
    record Case(int log2Slots, int committed, List<Scribble> scribbles, boolean flag) {
        static Case random(Random r) {
            List<Scribble> s = new ArrayList<>();
            for (int n = 1 + r.nextInt(4); n > 0; n--) s.add(Scribble.random(r));
            return new Case(r.nextInt(3), r.nextInt(5), List.copyOf(s), r.nextBoolean());
        }

        /** Fewer scribbles, values nearer 0, a smaller ring, fewer frames: the candidates a failure shrinks to. */
        List<Case> smaller() {
            List<Case> out = new ArrayList<>();
            for (int i = 0; i < scribbles.size() && scribbles.size() > 1; i++) {
                List<Scribble> fewer = new ArrayList<>(scribbles);
                fewer.remove(i);
                out.add(new Case(log2Slots, committed, List.copyOf(fewer), flag));
            }
            for (int i = 0; i < scribbles.size(); i++) {
                Scribble s = scribbles.get(i);
                for (long v : RandomCases.simpler(s.value())) {
                    List<Scribble> simpler = new ArrayList<>(scribbles);
                    simpler.set(i, new Scribble(s.offset(), s.width(), v));
                    out.add(new Case(log2Slots, committed, List.copyOf(simpler), flag));
                }
            }
            if (log2Slots > 0) out.add(new Case(log2Slots - 1, committed, scribbles, flag));
            if (committed > 0) out.add(new Case(log2Slots, committed - 1, scribbles, flag));
            if (flag) out.add(new Case(log2Slots, committed, scribbles, false));
            return out;
        }
    }

    private static void check(String property, int cases, RandomCases.Check<Case> check) {
        RandomCases.check(property, cases, Case::random, Case::smaller, c -> {
            Map<Integer, String> fds = NoLeaks.openFds();
            try {
                check.accept(c);
            } finally {
                NoLeaks.assertNoFdLeftSince(fds, property + " with " + c);
            }
        });
    }

    /** A ring of the case's size with its frames committed (each filled with SamplePeers' pattern), then scribbled on. */
    private static FrameRing scribbledRing(Case c, boolean closeProducer) throws IOException {
        FrameRing ring = FrameRing.create(1 << c.log2Slots(), SLOT_BYTES);
        try {
            FrameProducer producer = ring.producer(WaitStrategy.sleepAtOnce());
            for (int i = 0; i < Math.min(c.committed(), ring.slotCount()); i++) {
                FrameClaim claim = i % 2 == 0 ? producer.claim(16, 8, PixelFormat.RGB8) : producer.claimBytes(100 + i);
                SamplePeers.fill(claim.pixels(), claim.sequence());
                claim.commit();
            }
            if (closeProducer) producer.close();
            c.scribbles().forEach(s -> s.applyTo(ring.segment()));
            return ring;
        } catch (IOException | RuntimeException e) {
            ring.close();
            throw e;
        }
    }

    @Test
    void attachingGivesAProtocolErrorOrARingThatFitsItsMapping() {
        check("attach", 400, c -> {
            try (FrameRing original = scribbledRing(c, false)) {
                FrameRing ring;
                try {
                    ring = FrameRing.attach(Mappings.second(original.memory().nativeHandle()));
                } catch (ProtocolException e) {
                    assertNamesAField(e);
                    return;
                }
                try (ring) {
                    long end = ring.slotOffset(ring.slotCount() - 1) + ring.slotSize();
                    assertTrue(end <= ring.segment().byteSize(), "slots end at " + end + " in a mapping of " + ring.segment().byteSize());
                }
            }
        });
    }

    /**
     * A consumer takes what it can from a scribbled ring: every frame it is given lies inside its slot with a
     * descriptor that adds up, or it gets a typed error. The flag: poll with a 1 ms timeout (the sleeping path,
     * with its liveness check) rather than tryTake.
     */
    @Test
    void aConsumerGetsFramesInsideTheirSlotsOrATypedError() {
        check("take", 600, c -> {
            try (FrameRing ring = scribbledRing(c, false)) {
                FrameConsumer consumer = ring.consumer(WaitStrategy.sleepAtOnce());
                for (int i = 0; i <= ring.slotCount(); i++) {
                    FrameView view = c.flag() ? consumer.poll(1, TimeUnit.MILLISECONDS) : consumer.tryTake();
                    if (view == null) break;
                    assertInsideItsSlot(ring, view);
                    view.release();
                }
            } catch (ProtocolException e) {
                assertNamesAField(e);
            } catch (FrameRingClosedException | PeerDiedException | IllegalStateException e) {
                // a scribbled state or pid word: "closed", "died" or "already has a live consumer"
                assertNotNull(e.getMessage());
            }
        });
    }

    /** The producer's side: a scribbled consumer position never lets it claim a slot the consumer still holds. */
    @Test
    void aProducerClaimsOnlyFreeSlotsInsideTheRingOrGetsATypedError() {
        check("claim", 400, c -> {
            try (FrameRing ring = FrameRing.create(1 << c.log2Slots(), SLOT_BYTES)) {
                FrameProducer producer = ring.producer(WaitStrategy.sleepAtOnce());
                int slots = ring.slotCount();
                for (int i = 0; i < Math.min(c.committed(), slots); i++) producer.claimBytes(64).commit();   // none released
                c.scribbles().forEach(s -> s.applyTo(ring.segment()));
                long consumerPosition = ring.segment().get(ValueLayout.JAVA_LONG, CONSUMER_POSITION_OFFSET);
                try {
                    for (int i = 0; i <= slots; i++) {
                        FrameClaim claim = producer.tryClaimBytes(64);
                        if (claim == null) break;
                        // Nothing was released: the slot is free only on the first lap, or if the scribbled consumer
                        // position (which the producer may believe only up to its own position) says so.
                        long sequence = producer.position();
                        boolean believable = consumerPosition <= sequence && consumerPosition > sequence - slots;
                        assertTrue(sequence < slots || believable, "claimed sequence " + sequence + " while the consumer position is "
                                + consumerPosition + " in a ring of " + slots);
                        long slotStart = ring.segment().address() + ring.slotOffset((int) sequence & (slots - 1));
                        assertTrue(claim.pixels().address() == slotStart && claim.pixels().byteSize() <= ring.slotSize());
                        claim.commit();
                    }
                } catch (ProtocolException e) {
                    assertNamesAField(e);
                } catch (FrameRingClosedException | PeerDiedException e) {
                    assertNotNull(e.getMessage());
                }
            }
        });
    }

    /**
     * The C header's consumer ({@code samples/c/ring_consumer.c}, built with AddressSanitizer and UBSan) on a
     * scribbled ring whose producer closed: it takes frames, each checked against the pattern the producer
     * wrote, or exits 1 naming what was wrong; never a crash, a sanitizer report, or a wait that the header
     * does not justify (a producer that is not closed and whose pid is 0, "not attached yet", or names a
     * live process). Prints how the runs ended.
     */
    @Test
    void theCConsumerTakesFramesOrNamesTheFaultButNeverCrashesOrHangs() throws Exception {
        Path consumerC = SamplePeers.cSanitized("ring_consumer");
        checkPeer("C consumer", 80, SamplePeers.command(consumerC, "--fd", "3", "--verify", "--liveness-ms", "5"), "ring_consumer: ");
    }

    /** The same for samples/python/ring_consumer.py: its errors are RingError messages, never a Python traceback. */
    @Test
    void thePythonConsumerTakesFramesOrNamesTheFaultButNeverFailsUntold() throws Exception {
        List<String> command = new ArrayList<>(SamplePeers.python("ring_consumer.py"));
        command.addAll(List.of("--fd", "3", "--liveness-ms", "5"));
        checkPeer("Python consumer", 30, command, "ring_consumer.py: ");
    }

    /**
     * The C header's producer ({@code samples/c/ring_producer.c}, sanitized) on a scribbled ring whose consumer
     * (this JVM) is attached: it commits its frames or exits 1 naming the fault, never crashes or trips a
     * sanitizer; a wait needs a consumer that is not closed and alive or not attached. Whatever it committed,
     * the Java consumer then takes frames inside their slots or gets a typed error.
     */
    @Test
    void theCProducerCommitsFramesOrNamesTheFaultButNeverCrashes() throws Exception {
        Path producerC = SamplePeers.cSanitized("ring_producer");
        Map<String, Integer> outcomes = new TreeMap<>();
        check("C producer", 60, c -> {
            try (FrameRing ring = FrameRing.create(1 << c.log2Slots(), SLOT_BYTES)) {
                FrameConsumer consumer = ring.consumer(WaitStrategy.sleepAtOnce());
                c.scribbles().forEach(s -> s.applyTo(ring.segment()));
                List<String> command = SamplePeers.command(producerC, "--fd", "3", "--frames", Integer.toString(ring.slotCount()),
                        "--width", "16", "--height", "8", "--liveness-ms", "5");
                String outcome = runPeer("C producer", ring, command, "ring_producer: ", CONSUMER_STATE_OFFSET, CONSUMER_PID_OFFSET);
                outcomes.merge(outcome, 1, Integer::sum);
                try {
                    for (FrameView v; (v = consumer.tryTake()) != null; v.release()) assertInsideItsSlot(ring, v);
                } catch (ProtocolException e) {
                    assertNamesAField(e);
                } catch (FrameRingClosedException | PeerDiedException | IllegalStateException e) {
                    assertNotNull(e.getMessage());
                }
            }
        });
        System.out.println("C producer on scribbled rings: " + outcomes);
    }

    private static void checkPeer(String peerName, int cases, List<String> command, String errorPrefix) {
        Map<String, Integer> outcomes = new TreeMap<>();
        check(peerName, cases, c -> {
            try (FrameRing ring = scribbledRing(c, true)) {
                outcomes.merge(runPeer(peerName, ring, command, errorPrefix, PRODUCER_STATE_OFFSET, PRODUCER_PID_OFFSET), 1, Integer::sum);
            }
        });
        System.out.println(peerName + " on scribbled rings: " + outcomes);
    }

    /**
     * Runs a sample peer on {@code ring} and checks how it ended: exit 0, or exit 1 with its error message; no
     * crash, sanitizer report or traceback; still running after 2 s only while the other end's state and pid
     * words (at the given offsets) say it is not closed and alive or not attached yet. A peer that runs on
     * without that reason is given 20 s more before it counts as hanging: Python with numpy takes 0.3 s to
     * start on a busy 2-vCPU machine, and a slower start is not a wait. Returns the outcome.
     */
    private static String runPeer(String peerName, FrameRing ring, List<String> command, String errorPrefix,
                                  long otherStateOffset, long otherPidOffset) throws Exception {
        try (Subprocess peer = SamplePeers.start(ring, command)) {
            Optional<ExitStatus> exit = peer.waitFor(Duration.ofSeconds(2));
            if (exit.isEmpty()) {
                MemorySegment h = ring.segment();
                int state = h.get(ValueLayout.JAVA_INT, otherStateOffset);
                int pid = h.get(ValueLayout.JAVA_INT, otherPidOffset);
                boolean justified = state != STATE_CLOSED && (pid == 0 || ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
                if (justified) {
                    peer.destroy(Duration.ZERO);
                    return "waits for a live peer";
                }
                exit = peer.waitFor(Duration.ofSeconds(20));
                if (exit.isEmpty()) {
                    peer.destroy(Duration.ZERO);
                    fail(peerName + " still waits after 22 s, with its peer's state " + state + " and pid " + pid);
                }
            }
            String text = new String(peer.stdout().asInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int code = exit.get().shellCode();
            assertFalse(text.contains("Sanitizer") || text.contains("runtime error") || text.contains("Traceback"), text);
            assertTrue(code == 0 || (code == 1 && text.contains(errorPrefix)), "exit " + code + ":\n" + text);
            return code == 0 ? "exit 0" : text.substring(text.indexOf(errorPrefix) + errorPrefix.length()).split("[:(]")[0].trim();
        }
    }

    private static void assertInsideItsSlot(FrameRing ring, FrameView view) {
        MemorySegment pixels = view.pixels();
        int slot = (int) view.sequence() & (ring.slotCount() - 1);
        long slotStart = ring.segment().address() + ring.slotOffset(slot);
        assertTrue(pixels.address() >= slotStart && pixels.address() + pixels.byteSize() <= slotStart + ring.slotSize(),
                "frame " + view.sequence() + " pixels at +" + (pixels.address() - ring.segment().address()) + " length "
                        + pixels.byteSize() + " are not inside slot " + slot);
        assertEquals(view.payloadLength(), pixels.byteSize());
        if (view.format() != null) {
            long rowBytes = (long) view.width() * view.format().bytesPerPixel();
            assertTrue(view.width() > 0 && view.height() > 0 && Integer.toUnsignedLong(view.stride()) >= rowBytes);
            assertTrue(Integer.toUnsignedLong(view.stride()) * (view.height() - 1) + rowBytes <= pixels.byteSize());
        }
        long sum = 0;   // every byte of the view is readable
        for (long i = 0; i < pixels.byteSize(); i++) sum += pixels.get(ValueLayout.JAVA_BYTE, i);
        assertTrue(sum >= -128 * pixels.byteSize());
    }

    private static void assertNamesAField(ProtocolException e) {
        assertNotNull(e.field(), e.getMessage());
        assertFalse(e.field().isBlank(), e.getMessage());
    }
}
