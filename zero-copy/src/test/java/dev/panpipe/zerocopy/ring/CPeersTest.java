package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import dev.panpipe.zerocopy.ring.SamplePeers.Output;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.*;
import static dev.panpipe.zerocopy.ring.SamplePeers.command;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The C peers of samples/c (built here with gcc) against the Java ends: frames both ways with checksums,
 * the futex doorbell slept on and rung in both directions, a named ring, and the C side's errors. Skipped,
 * with the reason, where gcc is missing.
 */
@Timeout(60)
@ExtendWith(NoChildrenLeft.class)
class CPeersTest {
    /** An odd size, so that a frame's checksum depends on its sequence (a multiple of 256 bytes would not). */
    private static final int W = 321;
    private static final int H = 239;

    @Test
    void shouldAgreeWithTheJavaDescriptorOnEveryOffsetAndConstant(@TempDir Path dir) throws Exception {
        SamplePeers.c("ring_consumer");   // skips without gcc
        Map<String, Long> java = new LinkedHashMap<>();
        java.put("PPRG_MAGIC", (long) MAGIC);
        java.put("PPRG_VERSION", (long) VERSION);
        java.put("PPRG_HEADER_LENGTH", (long) HEADER_LENGTH);
        java.put("PPRG_DESCRIPTOR_LENGTH", (long) DESCRIPTOR_LENGTH);
        java.put("PPRG_PAGE", (long) PAGE);
        java.put("PPRG_MAX_SLOT_COUNT", (long) MAX_SLOT_COUNT);
        java.put("PPRG_STATE_NONE", (long) STATE_NONE);
        java.put("PPRG_STATE_ATTACHED", (long) STATE_ATTACHED);
        java.put("PPRG_STATE_CLOSED", (long) STATE_CLOSED);
        java.put("PPRG_FORMAT_BYTES", (long) FORMAT_BYTES);
        for (PixelFormat f : PixelFormat.values()) {
            java.put("PPRG_FORMAT_" + f.name(), (long) f.code());
            java.put("pprg_bytes_per_pixel(PPRG_FORMAT_" + f.name() + ")", (long) f.bytesPerPixel());
        }
        String h = "struct pprg_header";
        java.put("offsetof(" + h + ", magic)", (long) MAGIC_OFFSET);
        java.put("offsetof(" + h + ", version)", (long) VERSION_OFFSET);
        java.put("offsetof(" + h + ", header_length)", (long) HEADER_LENGTH_OFFSET);
        java.put("offsetof(" + h + ", slot_count)", (long) SLOT_COUNT_OFFSET);
        java.put("offsetof(" + h + ", flags)", (long) FLAGS_OFFSET);
        java.put("offsetof(" + h + ", slot_size)", (long) SLOT_SIZE_OFFSET);
        java.put("offsetof(" + h + ", slots_offset)", (long) SLOTS_OFFSET_OFFSET);
        java.put("offsetof(" + h + ", ring_length)", (long) RING_LENGTH_OFFSET);
        java.put("offsetof(" + h + ", producer_pid)", (long) PRODUCER_PID_OFFSET);
        java.put("offsetof(" + h + ", consumer_pid)", (long) CONSUMER_PID_OFFSET);
        java.put("offsetof(" + h + ", producer_state)", (long) PRODUCER_STATE_OFFSET);
        java.put("offsetof(" + h + ", consumer_state)", (long) CONSUMER_STATE_OFFSET);
        java.put("offsetof(" + h + ", producer_position)", (long) PRODUCER_POSITION_OFFSET);
        java.put("offsetof(" + h + ", consumer_position)", (long) CONSUMER_POSITION_OFFSET);
        java.put("offsetof(" + h + ", consumer_waiting)", (long) CONSUMER_WAITING_OFFSET);
        java.put("offsetof(" + h + ", producer_waiting)", (long) PRODUCER_WAITING_OFFSET);
        java.put("sizeof(" + h + ")", (long) HEADER_LENGTH);
        String d = "struct pprg_descriptor";
        java.put("offsetof(" + d + ", sequence)", (long) SEQUENCE_OFFSET);
        java.put("offsetof(" + d + ", timestamp_ns)", (long) TIMESTAMP_OFFSET);
        java.put("offsetof(" + d + ", payload_length)", (long) PAYLOAD_LENGTH_OFFSET);
        java.put("offsetof(" + d + ", width)", (long) WIDTH_OFFSET);
        java.put("offsetof(" + d + ", height)", (long) HEIGHT_OFFSET);
        java.put("offsetof(" + d + ", stride)", (long) STRIDE_OFFSET);
        java.put("offsetof(" + d + ", pixel_format)", (long) PIXEL_FORMAT_OFFSET);
        java.put("sizeof(" + d + ")", (long) DESCRIPTOR_LENGTH);
        for (int slots : new int[] {1, 2, 63, 64, 65, 4096}) {
            java.put("pprg_slots_offset(" + slots + ")", FrameRingDescriptor.slotsOffset(slots));
        }

        StringBuilder c = new StringBuilder("#define _GNU_SOURCE\n#include \"")
                .append(SamplePeers.SAMPLES.resolve("c/panpipe_ring.h")).append("\"\nint main(void) {\n");
        for (String expr : java.keySet()) {
            c.append("    printf(\"%s\\t%llu\\n\", \"").append(expr).append("\", (unsigned long long) (").append(expr).append("));\n");
        }
        c.append("    return 0;\n}\n");
        Files.writeString(dir.resolve("layout.c"), c);
        Output cc = SamplePeers.run(List.of("gcc", "-O2", "-Wall", "-Werror", "-o", dir.resolve("layout").toString(),
                dir.resolve("layout.c").toString()), null);
        assertEquals(0, cc.exit(), "gcc:\n" + cc.text());
        Output out = SamplePeers.run(List.of(dir.resolve("layout").toString()), null);
        assertEquals(0, out.exit(), out.text());
        Map<String, Long> fromC = new LinkedHashMap<>();
        out.text().lines().forEach(l -> fromC.put(l.substring(0, l.indexOf('\t')), Long.parseLong(l.substring(l.indexOf('\t') + 1))));
        assertEquals(java, fromC, "samples/c/panpipe_ring.h disagrees with FrameRingDescriptor");
    }

    @Test
    void shouldCarryFramesFromJavaToTheCConsumer() throws Exception {
        try (FrameRing ring = FrameRing.create(4, W * H * 3)) {
            FrameProducer producer = ring.producer();
            try (Subprocess peer = startConsumer(ring)) {
                sendToC(peer, producer, 200, W, H, 0);
            }
        }
    }

    @Test
    void shouldCarryFramesFromTheCProducerToJava() throws Exception {
        try (FrameRing ring = FrameRing.create(4, W * H * 3)) {
            FrameConsumer consumer = ring.consumer();
            try (Subprocess peer = startProducer(ring, 200, W, H, "rgb8")) {
                takeFromC(peer, consumer, 200, W, H, PixelFormat.RGB8, 0);
            }
        }
    }

    @Test
    void shouldCarryEveryPixelFormatAndPlainBytesFromC() throws Exception {
        for (PixelFormat format : PixelFormat.values()) {
            try (FrameRing ring = FrameRing.create(2, 4096);
                 Subprocess peer = startProducer(ring, 5, 13, 7, format.name().toLowerCase())) {
                takeFromC(peer, ring.consumer(), 5, 13, 7, format, 0);
            }
        }
        try (FrameRing ring = FrameRing.create(2, 4096);
             Subprocess peer = startProducer(ring, 5, 1000, 1, "bytes")) {
            takeFromC(peer, ring.consumer(), 5, 1000, 1, null, 0);
        }
    }

    @Test
    void shouldJoinANamedRingFromC() throws Exception {
        String name = "c-peer-" + ProcessHandle.current().pid();
        try (FrameRing ring = FrameRing.createNamed(name, 2, W * H * 3)) {
            FrameConsumer consumer = ring.consumer();
            try (Subprocess peer = startProducer(null, 20, W, H, "rgb8", "--name", name)) {
                takeFromC(peer, consumer, 20, W, H, PixelFormat.RGB8, 0);
            }
        }
        assertFalse(Files.exists(Path.of("/dev/shm/panpipe-" + name)));
    }

    @Test
    void shouldJoinARingThatCCreated() throws Exception {
        // pprg_create_named must write a header FrameRing accepts: the layout checked from the other side.
        String name = "c-made-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm/panpipe-" + name);
        try (Subprocess peer = startProducer(null, 50, W, H, "rgb8", "--name", name, "--create", "4")) {
            try (FrameRing ring = joinWhenReady(name, peer)) {
                assertEquals(4, ring.slotCount());
                assertEquals(FrameRingDescriptor.alignToPage(W * H * 3), ring.slotSize());
                takeFromC(peer, ring.consumer(), 50, W, H, PixelFormat.RGB8, 0);
            }
            assertFalse(Files.exists(path), "the C creator must unlink its ring's name");
        } finally {
            Files.deleteIfExists(path);
        }
    }

    /** Opens the named ring once its creator has published it (the magic is written last). */
    private static FrameRing joinWhenReady(String name, Subprocess creator) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        for (;;) {
            try {
                return FrameRing.openNamed(name);
            } catch (IOException notYet) {   // no such name yet, size 0 before ftruncate, or no magic yet
                if (System.nanoTime() - deadline > 0 || !creator.isAlive()) throw notYet;
                Thread.sleep(5);
            }
        }
    }

    // ---- the doorbell, both ways: whoever waits sleeps on the futex, and the other side's publish wakes it ----

    @Test
    void shouldWakeASleepingJavaEndFromC() throws Exception {
        // A slow C consumer: the Java producer finds the ring full and sleeps; each C release rings it awake.
        try (FrameRing ring = FrameRing.create(2, 64 * 48 * 3)) {
            FrameProducer producer = ring.producer(WaitStrategy.sleepAtOnce());
            try (Subprocess peer = startConsumer(ring, "--delay-us", "2000")) {
                Output out = sendToC(peer, producer, 30, 64, 48, 0);
                System.out.println("slow C consumer, sleeping Java producer: " + out.doorbell());
                assertTrue(out.get("wakes") > 0, "the C consumer never woke the sleeping Java producer: " + out);
            }
        }
        // A slow C producer: the Java consumer finds the ring empty and sleeps; each C commit rings it awake.
        try (FrameRing ring = FrameRing.create(2, 64 * 48 * 3)) {
            FrameConsumer consumer = ring.consumer(WaitStrategy.sleepAtOnce());
            try (Subprocess peer = startProducer(ring, 30, 64, 48, "rgb8", "--delay-us", "2000")) {
                Output out = takeFromC(peer, consumer, 30, 64, 48, PixelFormat.RGB8, 0);
                System.out.println("slow C producer, sleeping Java consumer: " + out.doorbell());
                assertTrue(out.get("wakes") > 0, "the C producer never woke the sleeping Java consumer: " + out);
            }
        }
    }

    @Test
    void shouldWakeASleepingCEndFromJava() throws Exception {
        // The C end sleeps at most 1 s at a time; "woken" counts the sleeps a FUTEX_WAKE ended: the Java end's.
        // (One may end by timeout: a close that lands between the C end's last look and its sleep is seen a slice late.)
        try (FrameRing ring = FrameRing.create(2, 64 * 48 * 3)) {
            FrameProducer producer = ring.producer();
            try (Subprocess peer = startConsumer(ring, "--liveness-ms", "1000")) {
                Output out = sendToC(peer, producer, 30, 64, 48, 2);   // slow: the C consumer finds the ring empty
                System.out.println("slow Java producer, sleeping C consumer: " + out.doorbell());
                assertTrue(out.get("woken") > 0, "the Java producer never woke the sleeping C consumer: " + out);
                assertTrue(out.get("timed-out") <= 1, "the C consumer slept through Java's commits: " + out);
            }
        }
        try (FrameRing ring = FrameRing.create(2, 64 * 48 * 3)) {
            FrameConsumer consumer = ring.consumer();
            try (Subprocess peer = startProducer(ring, 30, 64, 48, "rgb8", "--liveness-ms", "1000")) {
                Output out = takeFromC(peer, consumer, 30, 64, 48, PixelFormat.RGB8, 2);   // slow: the C producer finds it full
                System.out.println("slow Java consumer, sleeping C producer: " + out.doorbell());
                assertTrue(out.get("woken") > 0, "the Java consumer never woke the sleeping C producer: " + out);
                assertTrue(out.get("timed-out") <= 1, "the C producer slept through Java's releases: " + out);
            }
        }
    }

    /** samples/c/ring_producer writing {@code count} frames into {@code ring} (as fd 3; null: the ring is named in {@code extra}). */
    private static Subprocess startProducer(FrameRing ring, int count, int width, int height, String format, String... extra)
            throws IOException, InterruptedException {
        List<String> cmd = command(SamplePeers.c("ring_producer"), "--frames", "" + count, "--width", "" + width,
                "--height", "" + height, "--format", format);
        if (ring != null) cmd.addAll(List.of("--fd", "3"));
        cmd.addAll(List.of(extra));
        return SamplePeers.start(ring, cmd);
    }

    /** samples/c/ring_consumer over {@code ring} as fd 3, checking every byte against the pattern. */
    private static Subprocess startConsumer(FrameRing ring, String... extra) throws IOException, InterruptedException {
        List<String> cmd = command(SamplePeers.c("ring_consumer"), "--fd", "3", "--verify");
        cmd.addAll(List.of(extra));
        return SamplePeers.start(ring, cmd);
    }

    /**
     * Commits {@code count} RGB8 frames of the pattern for the C consumer {@code peer} (sleeping
     * {@code pauseMillis} before each), closes the producer, and checks that C took them all with the same checksum.
     */
    private static Output sendToC(Subprocess peer, FrameProducer producer, int count, int width, int height, long pauseMillis)
            throws IOException, InterruptedException {
        producer.watchPeer(peer.pid());   // a peer that dies before it attaches fails the claim, not the timeout
        long sum = 0;
        for (long seq = 0; seq < count; seq++) {
            if (pauseMillis > 0) Thread.sleep(pauseMillis);
            FrameClaim c = producer.claim(width, height, PixelFormat.RGB8);
            sum += SamplePeers.fill(c.pixels(), seq);
            c.commit();
        }
        producer.close();
        Output out = SamplePeers.finish(peer);
        assertEquals(0, out.exit(), out.toString());
        assertEquals(count, out.get("frames"), out.toString());
        assertEquals(sum, out.get("checksum"), out.toString());
        return out;
    }

    /** Takes what the C producer {@code peer} commits ({@link #takeAll}) and checks its exit and checksum. */
    private static Output takeFromC(Subprocess peer, FrameConsumer consumer, int count, int width, int height,
                                    PixelFormat format, long holdMillis) throws IOException, InterruptedException {
        consumer.watchPeer(peer.pid());
        long sum = takeAll(consumer, count, width, height, format, holdMillis);
        Output out = SamplePeers.finish(peer);
        assertEquals(0, out.exit(), out.toString());
        assertEquals(count, out.get("frames"), out.toString());
        assertEquals(sum, out.get("checksum"), format + ": " + out);
        return out;
    }

    // ---- the C side's errors ----

    @Test
    void shouldTellTheCConsumerThatItsProducerDied() throws Exception {
        Path consumerC = SamplePeers.c("ring_consumer");
        try (FrameRing ring = FrameRing.create(2, 4096);
             Subprocess standIn = Subprocess.builder("sleep", "60").stdout(Redirect.discard()).start()) {
            // A producer that attached and then died without closing: its pid is a process we kill.
            MemorySegment header = ring.memory().segment();
            header.set(ValueLayout.JAVA_INT, PRODUCER_PID_OFFSET, (int) standIn.pid());
            header.set(ValueLayout.JAVA_INT, PRODUCER_STATE_OFFSET, STATE_ATTACHED);
            killAndExpectTheCConsumerToReportIt(standIn, ring, command(consumerC, "--fd", "3"));
        }
    }

    @Test
    void shouldTakeAFrameWhoseProducerPositionTrailsAndThenNoticeThatProducersDeath() throws Exception {
        // A producer that died between the two stores of a commit: frame 1's descriptor sequence is stored,
        // its position still says 1. The C consumer looks at the awaited descriptor first, so it takes frame 1
        // too; then it awaits frame 2 with the producer's position one below its own, and must report the
        // death rather than a corrupt position or an endless wait.
        Path consumerC = SamplePeers.c("ring_consumer");
        try (FrameRing ring = FrameRing.create(2, 4096);
             Subprocess standIn = Subprocess.builder("sleep", "60").stdout(Redirect.discard()).start()) {
            FrameProducer producer = ring.producer();
            long sum = 0;
            for (long seq = 0; seq < 2; seq++) {
                FrameClaim c = producer.claimBytes(100);
                sum += SamplePeers.fill(c.pixels(), seq);
                c.commit();
            }
            MemorySegment header = ring.memory().segment();
            header.set(ValueLayout.JAVA_LONG, PRODUCER_POSITION_OFFSET, 1L);   // the second store never happened
            header.set(ValueLayout.JAVA_INT, PRODUCER_PID_OFFSET, (int) standIn.pid());
            Output out = killAndExpectTheCConsumerToReportIt(standIn, ring, command(consumerC, "--fd", "3", "--verify"));
            assertEquals(2, out.get("frames"), out.toString());
            assertEquals(sum, out.get("checksum"), out.toString());
        }
    }

    /**
     * Starts the C consumer {@code cmd} on {@code ring}, whose producer pid is {@code standIn}'s, kills the
     * stand-in once the consumer waits, and checks that the consumer failed naming the producer's death.
     */
    private static Output killAndExpectTheCConsumerToReportIt(Subprocess standIn, FrameRing ring, List<String> cmd)
            throws IOException, InterruptedException {
        try (Subprocess peer = SamplePeers.start(ring, cmd)) {
            Thread.sleep(100);
            standIn.signal(9);
            standIn.waitFor();
            Output out = SamplePeers.finish(peer);
            assertEquals(1, out.exit(), out.toString());
            assertTrue(out.text().contains("ring_consumer: the ring's producer (pid " + standIn.pid() + ") died"), out.toString());
            return out;
        }
    }

    @Test
    void shouldTakeAProducerPidThatNamesAThreadForADeadProducerInC() throws Exception {
        // As FrameRingTest.shouldTakeAPidThatNamesAThreadForAPeerThatHasEnded, for the C header (which once
        // fell back to kill(pid, 0), which a thread id passes, and waited for ever).
        int tid = dev.panpipe.zerocopy.ThisJvm.aThreadIdThatLeadsNoProcess();
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            MemorySegment header = ring.memory().segment();
            header.set(ValueLayout.JAVA_INT, PRODUCER_PID_OFFSET, tid);
            header.set(ValueLayout.JAVA_INT, PRODUCER_STATE_OFFSET, STATE_ATTACHED);
            Output out = SamplePeers.run(command(SamplePeers.c("ring_consumer"), "--fd", "3"), ring);
            assertEquals(1, out.exit(), out.toString());
            assertTrue(out.text().contains("ring_consumer: the ring's producer (pid " + tid + ") died"), out.toString());
        }
    }

    @Test
    void shouldRefuseClaimsInCOnceTheJavaConsumerClosed() throws Exception {
        Path producerC = SamplePeers.c("ring_producer");
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            ring.consumer().close();
            Output out = SamplePeers.run(command(producerC, "--fd", "3", "--frames", "3", "--width", "8", "--height", "8"), ring);
            assertEquals(1, out.exit(), out.toString());
            assertTrue(out.text().contains("ring_producer: the ring's consumer closed"), out.toString());
            assertEquals(0, out.get("frames"));
        }
    }

    @Test
    void shouldRefuseACorruptRingInCNamingTheField() throws Exception {
        Path consumerC = SamplePeers.c("ring_consumer");
        Object[][] cases = {
                {MAGIC_OFFSET, 0x12345678, "magic: ring magic 0x12345678, expected 0x47525050"},
                {VERSION_OFFSET, 9, "version: ring version 9 is not supported"},
                {SLOT_COUNT_OFFSET, 3, "slot count: 3 is not a power of two"},
        };
        for (Object[] c : cases) {
            try (FrameRing ring = FrameRing.create(2, 4096)) {
                MemorySegment header = ring.memory().segment();
                if ((int) c[0] == VERSION_OFFSET) header.set(ValueLayout.JAVA_SHORT, VERSION_OFFSET, (short) (int) c[1]);
                else header.set(ValueLayout.JAVA_INT, (int) c[0], (int) c[1]);
                Output out = SamplePeers.run(command(consumerC, "--fd", "3"), ring);
                assertEquals(1, out.exit(), out.toString());
                assertTrue(out.text().contains("ring_consumer: " + c[2]), out.toString());
            }
        }
    }

    /**
     * The header fields the C end checked when it mapped the ring are the ones it uses: a producer that changes
     * the slots offset afterwards must not move the C consumer's (or producer's) pixels out of the mapping.
     */
    @Test
    void shouldKeepTheCEndsPixelsInsideTheMappingWhenThePeerChangesTheHeaderAfterTheCheck(@TempDir Path dir) throws Exception {
        Path program = attachedCProgram(dir, "moved", "PPRG_CONSUMER", """
                ring.header->slots_offset = (uint64_t) 1 << 40;   /* the producer, after the check */
                if (pprg_take(&end, &frame) != PPRG_OK) {
                    printf("error %s\\n", ring.error);
                    return 1;
                }
                printf("inside %d\\n", frame.pixels >= ring.base && frame.pixels + frame.length <= ring.base + ring.length);
                return 0;
                """);
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            FrameClaim frame = ring.producer().claimBytes(100);
            frame.commit();
            assertEquals(1, runOk(program, ring).get("inside"), "the C consumer's pixels left the mapping");
        }
    }

    /** A frame described with a row that overflows the u32 stride (pprg_frame_packed wraps it) is refused at the claim. */
    @Test
    void shouldRefuseInCAClaimWhoseStrideDoesNotHoldItsRow(@TempDir Path dir) throws Exception {
        Path program = attachedCProgram(dir, "wide", "PPRG_PRODUCER", """
                pprg_frame_packed(&frame, 1u << 30, 1, PPRG_FORMAT_RGBA8);   /* stride 2^32: 0 in a u32 */
                printf("claim %d\\n", pprg_claim(&end, &frame));
                pprg_close(&end);
                return 0;
                """);
        try (FrameRing ring = FrameRing.create(1, 4096)) {
            assertEquals(-5, runOk(program, ring).get("claim"), "PPRG_REFUSED expected");
        }
    }

    /** Two threads of a C process attaching as the producer at the same moment: one of them gets the role. */
    @Test
    void shouldLetOnlyOneOfTwoCProducersAttachingAtOnceAttach(@TempDir Path dir) throws Exception {
        Path program = cProgram(dir, "two", "-pthread", """
                #include <pthread.h>
                static struct pprg_end ends[2];
                static int ready, attached[2];
                static void *attach(void *arg) {
                    int i = (int) (intptr_t) arg;
                    __atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
                    while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < 2) pprg_cpu_relax();
                    attached[i] = pprg_attach(&ends[i], &ring, PPRG_PRODUCER) == PPRG_OK;
                    return NULL;
                }
                int main(void) {
                    if (pprg_map(&ring, 3) != PPRG_OK) {
                        printf("error %s\\n", ring.error);
                        return 1;
                    }
                    int doubled = 0;
                    for (int round = 0; round < 300; round++) {
                        ring.header->producer_pid = 0;              /* a ring nobody produces into yet */
                        ring.header->producer_state = PPRG_STATE_NONE;
                        ready = 0;
                        pthread_t t[2];
                        for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, attach, (void *) (intptr_t) i);
                        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
                        doubled += attached[0] && attached[1];
                    }
                    printf("doubled %d\\n", doubled);
                    return 0;
                }
                """);
        try (FrameRing ring = FrameRing.create(1, 4096)) {
            assertEquals(0, runOk(program, ring).get("doubled"), "two C producers attached to one ring");
        }
    }

    /** As FrameRingHostilePeerTest: a C producer taking over from one that died mid-commit skips the slot held. */
    @Test
    void shouldNotHandACProducerTakingOverFromOneThatDiedMidCommitTheSlotItsConsumerHolds(@TempDir Path dir) throws Exception {
        Path program = attachedCProgram(dir, "successor", "PPRG_PRODUCER", """
                pprg_frame_bytes(&frame, 8);
                if (pprg_claim(&end, &frame) != PPRG_OK) {
                    printf("error %s\\n", ring.error);
                    return 1;
                }
                printf("sequence %llu\\n", (unsigned long long) frame.sequence);
                return 0;
                """);
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            MemorySegment s = ring.segment();
            FrameConsumer consumer = ring.consumer();
            ring.producer().claimBytes(8).commit();
            consumer.take().release();
            FrameRingHostilePeerTest.dieMidCommit(s, 1);
            FrameView held = consumer.take();
            assertEquals(1, held.sequence());
            assertEquals(2, runOk(program, ring).get("sequence"), "the C successor claimed again a frame its consumer holds");
            held.release();
        }
    }

    /** As FrameRingHostilePeerTest: a negative producer pid is a producer that is gone, not one to wait for. */
    @Test
    void shouldTakeANegativeProducerPidForADeadProducerInC() throws Exception {
        Path consumerC = SamplePeers.c("ring_consumer");   // skips without gcc
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            MemorySegment header = ring.segment();
            header.set(ValueLayout.JAVA_INT, PRODUCER_PID_OFFSET, -1);
            header.set(ValueLayout.JAVA_INT, PRODUCER_STATE_OFFSET, STATE_ATTACHED);
            try (Subprocess peer = SamplePeers.start(ring, command(consumerC, "--fd", "3", "--liveness-ms", "5"))) {
                assertTrue(peer.waitFor(java.time.Duration.ofSeconds(5)).isPresent(), "the C consumer waits for a producer of pid -1");
                Output out = SamplePeers.finish(peer);
                assertEquals(1, out.exit(), out.toString());
                assertTrue(out.text().contains("the ring's producer (pid -1) died"), out.toString());
            }
        }
    }

    /**
     * A C program of {@code code} after panpipe_ring.h and a prelude ({@code ring}, {@code end}, {@code frame}, and
     * {@code map_and_attach(role)}: maps fd 3 as {@code ring} and attaches {@code end}, or prints the error and
     * exits 1), built with gcc into {@code dir}; skips the test without gcc.
     */
    /** As {@link #cProgram}, with {@code body} the rest of a main that has attached {@code end} as {@code role}. */
    private static Path attachedCProgram(Path dir, String name, String role, String body) throws IOException, InterruptedException {
        return cProgram(dir, name, null, "int main(void) {\n    map_and_attach(" + role + ");\n" + body.indent(4) + "}\n");
    }

    private static Path cProgram(Path dir, String name, String flag, String code) throws IOException, InterruptedException {
        SamplePeers.c("ring_consumer");   // skips without gcc
        String prelude = """
                #define _GNU_SOURCE
                #include "%s"
                #include <stdlib.h>
                static struct pprg_ring ring;
                static struct pprg_end end __attribute__((unused));
                static struct pprg_frame frame __attribute__((unused));
                static inline void map_and_attach(int role) {
                    if (pprg_map(&ring, 3) != PPRG_OK || pprg_attach(&end, &ring, role) != PPRG_OK) {
                        printf("error %%s\\n", ring.error);
                        exit(1);
                    }
                }
                """.formatted(SamplePeers.SAMPLES.resolve("c/panpipe_ring.h"));
        Files.writeString(dir.resolve(name + ".c"), prelude + code);
        List<String> cc = new java.util.ArrayList<>(List.of("gcc", "-O2", "-Wall", "-Werror"));
        if (flag != null) cc.add(flag);
        cc.addAll(List.of("-o", dir.resolve(name).toString(), dir.resolve(name + ".c").toString()));
        Output out = SamplePeers.run(cc, null);
        assertEquals(0, out.exit(), "gcc:\n" + out.text());
        return dir.resolve(name);
    }

    /** Runs {@code program} with {@code ring} as its fd 3 and checks that it exited 0. */
    private static Output runOk(Path program, FrameRing ring) throws IOException, InterruptedException {
        Output out = SamplePeers.run(List.of(program.toString()), ring);
        assertEquals(0, out.exit(), out.text());
        return out;
    }

    /**
     * Takes {@code count} frames, checking each one's descriptor and every byte against the pattern
     * (format null: plain bytes), holding each {@code holdMillis}; then expects end of stream. Returns the sum.
     */
    private static long takeAll(FrameConsumer consumer, int count, int width, int height, PixelFormat format, long holdMillis)
            throws IOException, InterruptedException {
        long sum = 0;
        MemorySegment expected = MemorySegment.ofArray(new byte[width * height * 4]);
        for (int n = 0; n < count; n++) {
            FrameView v = consumer.take();
            assertEquals(n, v.sequence());
            assertEquals(format, v.format());
            assertEquals(width, v.width());
            assertEquals(height, v.height());
            long length = format == null ? width : (long) width * height * format.bytesPerPixel();
            assertEquals(length, v.payloadLength());
            assertEquals(format == null ? width : width * format.bytesPerPixel(), v.stride());
            long frameSum = SamplePeers.fill(expected.asSlice(0, length), n);
            assertEquals(-1, v.pixels().mismatch(expected.asSlice(0, length)), "frame " + n + " differs from the pattern");
            sum += frameSum;
            if (holdMillis > 0) Thread.sleep(holdMillis);
            v.release();
        }
        assertThrows(FrameRingClosedException.class, consumer::take);
        return sum;
    }
}
