package dev.panpipe.zerocopy.kernel;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.testing.OpenCvOracle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The kernels byte for byte against OpenCV's {@code cv2.cvtColor} (COLOR_RGB2GRAY, COLOR_BGR2GRAY,
 * COLOR_RGB2BGR) run by Debian's Python: every 24-bit colour once, then random frames of odd and even
 * sizes with padded rows on both sides. Skipped when {@code /usr/bin/python3} has no cv2.
 */
@Timeout(60)
@ExtendWith(NoChildrenLeft.class)
class KernelsOpenCvTest {
    /** For each "w h" line of cases.txt: reads w*h*3 packed bytes of in.bin, appends cvtColor's results. */
    static final String ORACLE = """
            import sys, cv2, numpy as np
            data = np.fromfile('in.bin', dtype=np.uint8)
            off = 0
            with open('gray.bin', 'wb') as gray, open('gray-bgr.bin', 'wb') as gray_bgr, open('bgr.bin', 'wb') as bgr:
                for line in open('cases.txt'):
                    w, h = map(int, line.split())
                    img = data[off:off + w * h * 3].reshape(h, w, 3)
                    off += w * h * 3
                    gray.write(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).tobytes())
                    gray_bgr.write(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).tobytes())
                    bgr.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR).tobytes())
            assert off == data.size, (off, data.size)
            print(cv2.__version__)
            """;

    @TempDir
    Path dir;

    @Test
    void shouldMatchOpenCvByteForByte() throws Exception {
        OpenCvOracle.assumeAvailable();
        Random random = new Random(20261124);
        try (Arena arena = Arena.ofConfined()) {
            List<PixelFrame> frames = new ArrayList<>();
            frames.add(KernelsTest.allTriples(arena, 5));
            int[][] sizes = {{1, 1}, {2, 1}, {1, 7}, {3, 3}, {15, 2}, {16, 16}, {17, 5}, {641, 359}, {640, 480}, {1023, 3}, {333, 111}};
            for (int[] size : sizes) {
                frames.add(KernelsTest.frame(arena, size[0], size[1], random.nextInt(14), PixelFormat.RGB8, random));
            }
            frames.add(extremes(arena));

            try (FileChannel in = FileChannel.open(dir.resolve("in.bin"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                for (PixelFrame f : frames) {
                    for (int y = 0; y < f.height(); y++) {
                        in.write(f.pixels().asSlice((long) y * f.stride(), f.width() * 3L).asByteBuffer());
                    }
                }
            }
            Files.write(dir.resolve("cases.txt"), frames.stream().map(f -> f.width() + " " + f.height()).toList());
            String version = OpenCvOracle.check(dir, ORACLE).strip();

            try (Arena files = Arena.ofConfined()) {
                MemorySegment gray = map(dir.resolve("gray.bin"), files);
                MemorySegment grayBgr = map(dir.resolve("gray-bgr.bin"), files);
                MemorySegment bgr = map(dir.resolve("bgr.bin"), files);
                long grayOff = 0;
                long bgrOff = 0;
                for (PixelFrame src : frames) {
                    int w = src.width();
                    int h = src.height();
                    String what = "OpenCV " + version + ", " + w + "x" + h + " frame, src stride " + src.stride();

                    PixelFrame g = KernelsTest.blank(arena, w, h, random.nextInt(9), PixelFormat.GRAY8);
                    Kernels.rgbToGray(src, g);
                    assertRows(gray.asSlice(grayOff, (long) w * h), g, what + ", RGB2GRAY");
                    PixelFrame asBgr = new PixelFrame(w, h, src.stride(), PixelFormat.BGR8, src.pixels());
                    Kernels.rgbToGray(asBgr, g);
                    assertRows(grayBgr.asSlice(grayOff, (long) w * h), g, what + ", BGR2GRAY");
                    KernelsTest.assertPaddingUntouched(g);
                    grayOff += (long) w * h;

                    PixelFrame b = KernelsTest.blank(arena, w, h, random.nextInt(9), PixelFormat.BGR8);
                    Kernels.rgbToBgr(src, b);
                    assertRows(bgr.asSlice(bgrOff, (long) w * h * 3), b, what + ", RGB2BGR");
                    KernelsTest.assertPaddingUntouched(b);
                    bgrOff += (long) w * h * 3;
                }
                assertEquals(gray.byteSize(), grayOff);
                assertEquals(bgr.byteSize(), bgrOff);
            }
        }
    }

    /** 0, 1, 127, 128, 254 and 255 in every combination of channels. */
    private static PixelFrame extremes(Arena arena) {
        int[] values = {0, 1, 127, 128, 254, 255};
        int n = values.length;
        MemorySegment pixels = arena.allocate((long) n * n * n * 3);
        int i = 0;
        for (int r : values) {
            for (int g : values) {
                for (int b : values) {
                    pixels.set(ValueLayout.JAVA_BYTE, i++, (byte) r);
                    pixels.set(ValueLayout.JAVA_BYTE, i++, (byte) g);
                    pixels.set(ValueLayout.JAVA_BYTE, i++, (byte) b);
                }
            }
        }
        return PixelFrame.packed(n * n, n, PixelFormat.RGB8, pixels);
    }

    private static MemorySegment map(Path file, Arena arena) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
    }

    /** {@code expected} is packed; {@code frame}'s rows may be padded. Reports the first differing pixel. */
    private static void assertRows(MemorySegment expected, PixelFrame frame, String what) {
        long rowBytes = (long) frame.width() * frame.format().bytesPerPixel();
        for (int y = 0; y < frame.height(); y++) {
            long m = expected.asSlice(y * rowBytes, rowBytes).mismatch(frame.pixels().asSlice((long) y * frame.stride(), rowBytes));
            if (m >= 0) {
                throw new AssertionError(what + ": row " + y + " differs at byte " + m + " (pixel x=" + m / frame.format().bytesPerPixel()
                        + "): OpenCV " + (expected.get(ValueLayout.JAVA_BYTE, y * rowBytes + m) & 0xff)
                        + ", panpipe " + (frame.pixels().get(ValueLayout.JAVA_BYTE, (long) y * frame.stride() + m) & 0xff));
            }
        }
    }
}
