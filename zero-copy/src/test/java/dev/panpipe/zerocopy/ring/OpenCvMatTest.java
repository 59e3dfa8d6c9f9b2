package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.process.JavaCommand;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.zerocopy.kernel.Kernels;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import dev.panpipe.zerocopy.ring.SamplePeers.Output;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A zero-copy OpenCV {@code Mat} over ring slots ({@link OpenCvRingPeer}, org.openpnp:opencv in a child JVM):
 * it converts RGB frames taken from one ring straight into slots of another, and every gray byte must equal
 * {@link Kernels#rgbToGray}'s. Skipped where the openpnp jar has no native library for this machine.
 */
@Timeout(60)
@ExtendWith(NoChildrenLeft.class)
class OpenCvMatTest {
    private static final int[][] SIZES = {{641, 359}, {64, 48}, {1, 1}, {320, 240}, {17, 5}};
    private static final int FRAMES = 20;

    @TempDir
    Path tmp;

    @Test
    void shouldConvertFramesWithAnOpenCvMatOverTheSharedSlots() throws Exception {
        try (Arena arena = Arena.ofShared();
             FrameRing rgbRing = FrameRing.create(4, 641 * 359 * 3);
             FrameRing grayRing = FrameRing.create(4, 641 * 359)) {
            Random random = new Random(20261123);
            List<PixelFrame> sources = new ArrayList<>();
            for (int n = 0; n < FRAMES; n++) {
                int[] size = SIZES[n % SIZES.length];
                MemorySegment pixels = arena.allocate((long) size[0] * size[1] * 3);
                for (long i = 0; i < pixels.byteSize(); i++) pixels.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
                sources.add(PixelFrame.packed(size[0], size[1], PixelFormat.RGB8, pixels));
            }
            FrameProducer producer = rgbRing.producer();
            FrameConsumer consumer = grayRing.consumer();
            try (Subprocess peer = Subprocess.builder(peerCommand())
                    .passFd(3, Redirect.fd((int) rgbRing.memory().nativeHandle()))
                    .passFd(4, Redirect.fd((int) grayRing.memory().nativeHandle()))
                    .stdout(Redirect.pipe())
                    .mergeStderr()
                    .destroyGrace(Duration.ofSeconds(2))
                    .start()) {
                producer.watchPeer(peer.pid());   // a child that cannot load OpenCV ends the waits at once
                consumer.watchPeer(peer.pid());
                CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                    try {
                        for (PixelFrame f : sources) {
                            FrameClaim c = producer.claim(f.width(), f.height(), PixelFormat.RGB8);
                            c.pixels().copyFrom(f.pixels());
                            c.commit();
                        }
                        producer.close();
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                }, Thread::startVirtualThread);
                int n = 0;
                for (;; n++) {
                    FrameView gray;
                    try {
                        gray = consumer.take();
                    } catch (FrameRingClosedException endOfStream) {
                        break;
                    } catch (PeerDiedException died) {
                        Output out = SamplePeers.finish(peer);
                        Assumptions.assumeFalse(out.exit() == 3, out.text());
                        throw new AssertionError("the OpenCV peer died: " + out, died);
                    }
                    PixelFrame src = sources.get(n);
                    assertEquals(PixelFormat.GRAY8, gray.format());
                    assertEquals(src.width(), gray.width());
                    assertEquals(src.height(), gray.height());
                    PixelFrame expected = PixelFrame.packed(src.width(), src.height(), PixelFormat.GRAY8,
                            arena.allocate((long) src.width() * src.height()));
                    Kernels.rgbToGray(src, expected);
                    assertEquals(-1, gray.pixels().mismatch(expected.pixels()), "frame " + n + " (" + src.width() + "x"
                            + src.height() + "): OpenCV's gray differs from Kernels.rgbToGray");
                    gray.release();
                }
                sent.get(10, TimeUnit.SECONDS);
                Output out = SamplePeers.finish(peer);
                Assumptions.assumeFalse(out.exit() == 3, out.text());
                assertEquals(0, out.exit(), out.toString());
                assertEquals(FRAMES, n);
                assertEquals(FRAMES, out.get("frames"), out.toString());
                System.out.println("OpenCV peer: " + out.text().strip());
            }
        }
    }

    /**
     * The child JVM's command line: JavaCommand's, plus the opencv jar on the module path, so that its native
     * access is granted by module name, and its temporary copy of the native library goes to {@link #tmp}.
     */
    private List<String> peerCommand() {
        String jar = null;
        for (String entry : System.getProperty("java.class.path", "").split(File.pathSeparator)) {
            if (Path.of(entry).getFileName().toString().matches("opencv-.*\\.jar")) jar = entry;
        }
        if (jar == null) {
            for (String entry : System.getProperty("jdk.module.path", "").split(File.pathSeparator)) {
                if (Path.of(entry).getFileName().toString().matches("opencv-.*\\.jar")) jar = entry;
            }
        }
        assertNotNull(jar, "org.openpnp:opencv is not on the test class path or module path");
        List<String> cmd = new ArrayList<>(JavaCommand.of(OpenCvRingPeer.class,
                List.of("--patch-module", "dev.panpipe.zerocopy=" + SamplePeers.BASEDIR.resolve("target/test-classes"),
                        "--add-modules", "opencv", "--add-reads", "dev.panpipe.zerocopy=opencv",
                        "-Djava.io.tmpdir=" + tmp),
                List.of()));
        int mp = cmd.indexOf("--module-path");
        assertTrue(mp > 0, "JavaCommand gave no --module-path: " + cmd);
        if (!cmd.get(mp + 1).contains(jar)) cmd.set(mp + 1, cmd.get(mp + 1) + File.pathSeparator + jar);
        for (int i = 0; i < cmd.size(); i++) {
            if (cmd.get(i).startsWith("--enable-native-access=")) cmd.set(i, cmd.get(i) + ",opencv");
        }
        return cmd;
    }
}
