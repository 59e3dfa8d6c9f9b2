package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.process.Subprocess;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import dev.panpipe.zerocopy.ring.SamplePeers.Output;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * samples/python/ring_consumer.py, run by Debian's /usr/bin/python3, against a Java producer: every frame an
 * ndarray view of the mapping (the script checks the address), checksums and per-channel sums compared, and
 * the futex doorbell (through ctypes) slept on and rung both ways. Skipped where that Python has no numpy.
 */
@Timeout(60)
@ExtendWith(NoChildrenLeft.class)
class PythonPeerTest {
    private static final int W = 321;
    private static final int H = 239;

    @Test
    void shouldHandFramesToPythonAsNumpyViewsAndWakeBothWays() throws Exception {
        List<String> cmd = new ArrayList<>(SamplePeers.python("ring_consumer.py"));
        cmd.addAll(List.of("--fd", "3", "--delay-ms", "2", "--liveness-ms", "1000"));
        try (FrameRing ring = FrameRing.create(2, W * H * 3)) {
            FrameProducer producer = ring.producer(WaitStrategy.sleepAtOnce());
            try (Subprocess peer = SamplePeers.start(ring, cmd)) {
                producer.watchPeer(peer.pid());   // a Python that fails before it attaches fails the claim at once
                long sum = 0;
                long[] channels = new long[3];
                for (long seq = 0; seq < 60; seq++) {
                    // Bursts of 10 fill the 2-slot ring faster than Python (2 ms a frame) takes them: Java sleeps.
                    // The pauses between bursts let Python drain the ring: then Python sleeps.
                    if (seq % 10 == 0) Thread.sleep(20);
                    FrameClaim c = producer.claim(W, H, PixelFormat.RGB8);
                    sum += SamplePeers.fill(c.pixels(), seq);
                    c.commit();
                    long[] s = SamplePeers.channelSums(seq, (long) W * H * 3, 3);
                    for (int i = 0; i < 3; i++) channels[i] += s[i];
                }
                producer.close();
                Output out = SamplePeers.finish(peer);
                assertEquals(0, out.exit(), out.toString());
                assertEquals(60, out.get("frames"), out.toString());
                assertEquals(sum, out.get("checksum"), out.toString());
                assertArrayEquals(channels, out.numbers("channel-sums"), "(height, width, channels) view: " + out);
                System.out.println("Python consumer: " + out.doorbell());
                assertTrue(out.get("woken") > 0, "the Java producer never woke the sleeping Python consumer: " + out);
                assertTrue(out.get("wakes") > 0, "the Python consumer never woke the sleeping Java producer: " + out);
            }
        }
    }

    @Test
    void shouldJoinANamedRingFromPython() throws Exception {
        String name = "python-peer-" + ProcessHandle.current().pid();
        List<String> cmd = new ArrayList<>(SamplePeers.python("ring_consumer.py"));
        cmd.addAll(List.of("--name", name));
        try (FrameRing ring = FrameRing.createNamed(name, 4, 64 * 48)) {
            FrameProducer producer = ring.producer();
            try (Subprocess peer = SamplePeers.start(null, cmd)) {
                producer.watchPeer(peer.pid());
                long sum = 0;
                for (long seq = 0; seq < 5; seq++) {
                    FrameClaim c = producer.claim(64, 48, PixelFormat.GRAY8);
                    sum += SamplePeers.fill(c.pixels(), seq);
                    c.commit();
                }
                producer.close();
                Output out = SamplePeers.finish(peer);
                assertEquals(0, out.exit(), out.toString());
                assertEquals(5, out.get("frames"), out.toString());
                assertEquals(sum, out.get("checksum"), out.toString());
                assertArrayEquals(new long[] {sum}, out.numbers("channel-sums"), out.toString());
            }
        }
        assertFalse(Files.exists(Path.of("/dev/shm/panpipe-" + name)));
    }

    @Test
    void shouldTakeAProducerPidThatNamesAThreadForADeadProducerInPython() throws Exception {
        // As FrameRingTest.shouldTakeAPidThatNamesAThreadForAPeerThatHasEnded, for the Python sample (which
        // once died of a bare OSError there).
        List<String> cmd = new ArrayList<>(SamplePeers.python("ring_consumer.py"));
        cmd.addAll(List.of("--fd", "3", "--liveness-ms", "20"));
        int tid = dev.panpipe.zerocopy.ThisJvm.aThreadIdThatLeadsNoProcess();
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            java.lang.foreign.MemorySegment header = ring.memory().segment();
            header.set(java.lang.foreign.ValueLayout.JAVA_INT, FrameRingDescriptor.PRODUCER_PID_OFFSET, tid);
            header.set(java.lang.foreign.ValueLayout.JAVA_INT, FrameRingDescriptor.PRODUCER_STATE_OFFSET, FrameRingDescriptor.STATE_ATTACHED);
            Output out = SamplePeers.run(cmd, ring);
            assertEquals(1, out.exit(), out.toString());
            assertTrue(out.text().contains("ring_consumer.py: the ring's producer (pid " + tid + ") died"), out.toString());
        }
    }

    @Test
    void shouldTakeANegativeProducerPidForADeadProducerInPython() throws Exception {
        // As FrameRingHostilePeerTest: read as a u32, -1 was a pid Python's pidfd_open cannot take (a traceback).
        List<String> cmd = new ArrayList<>(SamplePeers.python("ring_consumer.py"));
        cmd.addAll(List.of("--fd", "3", "--liveness-ms", "5"));
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            java.lang.foreign.MemorySegment header = ring.memory().segment();
            header.set(java.lang.foreign.ValueLayout.JAVA_INT, FrameRingDescriptor.PRODUCER_PID_OFFSET, -1);
            header.set(java.lang.foreign.ValueLayout.JAVA_INT, FrameRingDescriptor.PRODUCER_STATE_OFFSET, FrameRingDescriptor.STATE_ATTACHED);
            Output out = SamplePeers.run(cmd, ring);
            assertEquals(1, out.exit(), out.toString());
            assertTrue(out.text().contains("ring_consumer.py: the ring's producer (pid -1) died"), out.toString());
        }
    }

    @Test
    void shouldRefuseAPythonConsumerWhoseRoleAnotherTookBetweenItsCheckAndItsStore() throws Exception {
        // Two consumers attaching at once: this one read the pid word as 0, and another's pid (this JVM's, a live
        // process) lands in it before this one stores its own. The interleaving is made by wrapping load4.
        String script = String.join("\n",
                "import sys",
                "sys.path.insert(0, " + "'" + SamplePeers.SAMPLES.resolve("python") + "'" + ")",
                "import ring_consumer as rc",
                "validate = rc.Consumer._validate",
                "def racing_validate(self):",
                "    validate(self)",
                "    load4 = self.load4",
                "    def load4_then_another_attaches(address, order):",
                "        v = load4(address, order)",
                "        if address == self.base + rc.CONSUMER_PID:",
                "            self.store4(address, " + ProcessHandle.current().pid() + ", rc.SEQ_CST)",
                "        return v",
                "    self.load4 = load4_then_another_attaches",
                "rc.Consumer._validate = racing_validate",
                "try:",
                "    rc.Consumer(3, 0, 20_000_000)",
                "    print('attached')",
                "except rc.RingError as e:",
                "    print('refused', e)");
        List<String> cmd = new ArrayList<>(SamplePeers.python("ring_consumer.py"));
        cmd.set(cmd.size() - 1, "-c");
        cmd.add(script);
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            Output out = SamplePeers.run(cmd, ring);
            assertEquals(0, out.exit(), out.toString());
            assertTrue(out.text().startsWith("refused the ring already has a live consumer"), out.toString());
        }
    }
}
