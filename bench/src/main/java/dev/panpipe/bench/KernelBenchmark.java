package dev.panpipe.bench;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.zerocopy.kernel.Kernels;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The convert job's kernels ({@link Kernels}) on one 1920x1080 frame, off-heap as a shared-memory slot
 * would be. One op = one whole frame; the score is microseconds per frame (6.2 MB of RGB in).
 *
 * <ul>
 *   <li>{@code bgr}: RGB8 to a separate BGR8 frame; {@code bgrInPlace}: the same over the source's bytes.</li>
 *   <li>{@code gray}: RGB8 to GRAY8 (OpenCV's fixed point).</li>
 *   <li>{@code copyFloor}: {@link MemorySegment#copy} of the frame, the floor for anything that writes 6.2 MB.</li>
 *   <li>{@code grayByteArray}: the same gray loop over Java arrays, to show what FFM's accessors cost.</li>
 * </ul>
 *
 * <p>Measured on a shared 2-vCPU VM (JDK 25, pinned to cpu 0, other builds running; indicative): bgr 0.99 ms,
 * bgrInPlace 0.85 ms, gray 2.6 ms, grayByteArray 1.4 ms, copyFloor 0.18 ms; nothing allocated (the overlap
 * checks made 100-170 B of slices a frame until they compared addresses instead). Tried and dropped: 8-byte loads and stores (two pixels per long
 * for the swap, eight per three longs for gray) were slower, 1.8 ms and 4.8 ms in place for the swap
 * (overlapping unaligned stores defeat store-to-load forwarding), and a row slice per row allocated 86 KB
 * a frame without being faster.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class KernelBenchmark {
    static final int WIDTH = 1920;
    static final int HEIGHT = 1080;

    Arena arena;
    PixelFrame rgb;
    PixelFrame bgr;
    PixelFrame gray;
    PixelFrame inPlace;
    byte[] rgbArray;
    byte[] grayArray;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        rgbArray = new byte[WIDTH * HEIGHT * 3];
        new Random(42).nextBytes(rgbArray);
        grayArray = new byte[WIDTH * HEIGHT];
        rgb = PixelFrame.packed(WIDTH, HEIGHT, PixelFormat.RGB8, arena.allocate(rgbArray.length, 64));
        MemorySegment.copy(rgbArray, 0, rgb.pixels(), ValueLayout.JAVA_BYTE, 0, rgbArray.length);
        bgr = PixelFrame.packed(WIDTH, HEIGHT, PixelFormat.BGR8, arena.allocate(rgbArray.length, 64));
        gray = PixelFrame.packed(WIDTH, HEIGHT, PixelFormat.GRAY8, arena.allocate(grayArray.length, 64));
        inPlace = new PixelFrame(WIDTH, HEIGHT, bgr.stride(), PixelFormat.RGB8, bgr.pixels());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public PixelFrame bgr() {
        Kernels.rgbToBgr(rgb, bgr);
        return bgr;
    }

    @Benchmark
    public PixelFrame bgrInPlace() {
        Kernels.rgbToBgr(inPlace, bgr);   // same bytes, same stride: swapped back and forth, each op one swap
        return bgr;
    }

    @Benchmark
    public PixelFrame gray() {
        Kernels.rgbToGray(rgb, gray);
        return gray;
    }

    @Benchmark
    public MemorySegment copyFloor() {
        MemorySegment.copy(rgb.pixels(), 0, bgr.pixels(), 0, rgb.byteSize());
        return bgr.pixels();
    }

    @Benchmark
    public byte[] grayByteArray() {
        byte[] s = rgbArray;
        byte[] d = grayArray;
        for (int i = 0, p = 0; i < d.length; i++, p += 3) {
            d[i] = (byte) (((s[p] & 0xff) * Kernels.GRAY_R + (s[p + 1] & 0xff) * Kernels.GRAY_G + (s[p + 2] & 0xff) * Kernels.GRAY_B
                    + (1 << (Kernels.GRAY_SHIFT - 1))) >>> Kernels.GRAY_SHIFT);
        }
        return d;
    }
}
