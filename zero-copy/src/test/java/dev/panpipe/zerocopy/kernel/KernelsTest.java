package dev.panpipe.zerocopy.kernel;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.zerocopy.CurrentThreadAllocation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The kernels against their definitions in plain Java; {@link KernelsOpenCvTest} checks them against OpenCV. */
@Timeout(30)
class KernelsTest {
    static final byte PAD = (byte) 0xA5;

    /** A frame of random pixels with {@code pad} bytes of {@link #PAD} after each row. */
    static PixelFrame frame(Arena arena, int width, int height, int pad, PixelFormat format, Random random) {
        int stride = width * format.bytesPerPixel() + pad;
        MemorySegment pixels = arena.allocate((long) stride * height);
        byte[] row = new byte[stride];
        for (int y = 0; y < height; y++) {
            random.nextBytes(row);
            for (int i = width * format.bytesPerPixel(); i < stride; i++) row[i] = PAD;
            MemorySegment.copy(row, 0, pixels, ValueLayout.JAVA_BYTE, (long) y * stride, stride);
        }
        return new PixelFrame(width, height, stride, format, pixels);
    }

    static PixelFrame blank(Arena arena, int width, int height, int pad, PixelFormat format) {
        int stride = width * format.bytesPerPixel() + pad;
        MemorySegment pixels = arena.allocate((long) stride * height);
        pixels.fill(PAD);
        return new PixelFrame(width, height, stride, format, pixels);
    }

    static int at(PixelFrame f, int x, int y, int channel) {
        return f.pixels().get(ValueLayout.JAVA_BYTE, (long) y * f.stride() + (long) x * f.format().bytesPerPixel() + channel) & 0xff;
    }

    static void assertPaddingUntouched(PixelFrame f) {
        int rowBytes = f.width() * f.format().bytesPerPixel();
        for (int y = 0; y < f.height(); y++) {
            for (int i = rowBytes; i < f.stride(); i++) {
                assertEquals(PAD, f.pixels().get(ValueLayout.JAVA_BYTE, (long) y * f.stride() + i), "padding of row " + y + " byte " + i);
            }
        }
    }

    @Test
    void shouldSwapRedAndBlueAcrossPaddedRows() {
        Random random = new Random(1);
        try (Arena arena = Arena.ofConfined()) {
            for (int[] size : new int[][]{{1, 1}, {7, 3}, {641, 5}, {64, 64}}) {
                PixelFrame src = frame(arena, size[0], size[1], 5, PixelFormat.RGB8, random);
                PixelFrame dst = blank(arena, size[0], size[1], 11, PixelFormat.BGR8);
                Kernels.rgbToBgr(src, dst);
                for (int y = 0; y < src.height(); y++) {
                    for (int x = 0; x < src.width(); x++) {
                        assertEquals(at(src, x, y, 0), at(dst, x, y, 2));
                        assertEquals(at(src, x, y, 1), at(dst, x, y, 1));
                        assertEquals(at(src, x, y, 2), at(dst, x, y, 0));
                    }
                }
                assertPaddingUntouched(dst);
                PixelFrame back = blank(arena, size[0], size[1], 0, PixelFormat.RGB8);
                Kernels.rgbToBgr(dst, back);
                for (int y = 0; y < src.height(); y++) {
                    assertEquals(src.pixels().asSlice((long) y * src.stride(), src.width() * 3L).mismatch(
                            back.pixels().asSlice((long) y * back.stride(), back.width() * 3L)), -1L, "row " + y);
                }
            }
        }
    }

    @Test
    void shouldSwapInPlaceOverTheSameBytes() {
        try (Arena arena = Arena.ofConfined()) {
            PixelFrame src = frame(arena, 33, 9, 3, PixelFormat.RGB8, new Random(2));
            PixelFrame original = src.copy(arena);
            Kernels.rgbToBgr(src, new PixelFrame(33, 9, src.stride(), PixelFormat.BGR8, src.pixels()));
            for (int y = 0; y < 9; y++) {
                for (int x = 0; x < 33; x++) {
                    assertEquals(at(original, x, y, 0), at(src, x, y, 2));
                    assertEquals(at(original, x, y, 1), at(src, x, y, 1));
                    assertEquals(at(original, x, y, 2), at(src, x, y, 0));
                }
            }
            assertPaddingUntouched(src);
        }
    }

    @Test
    void shouldSwapInPlaceOnHeapSegments() {
        byte[] bytes = {1, 2, 3, 4, 5, 6, 99};
        MemorySegment heap = MemorySegment.ofArray(bytes);
        Kernels.rgbToBgr(new PixelFrame(2, 1, 7, PixelFormat.BGR8, heap), new PixelFrame(2, 1, 7, PixelFormat.RGB8, MemorySegment.ofArray(bytes)));
        assertArrayEquals(new byte[]{3, 2, 1, 6, 5, 4, 99}, bytes);
    }

    @Test
    void shouldComputeOpenCvsFixedPointLumaForEveryRgbTriple() {
        // 4096 x 4096 pixels: every 24-bit colour once, through the frame loop with padded rows on both sides.
        try (Arena arena = Arena.ofConfined()) {
            PixelFrame src = allTriples(arena, 2);
            PixelFrame dst = blank(arena, 4096, 4096, 3, PixelFormat.GRAY8);
            Kernels.rgbToGray(src, dst);
            for (int v = 0; v < 1 << 24; v++) {
                int r = v >>> 16, g = (v >>> 8) & 0xff, b = v & 0xff;
                int expected = (r * 9798 + g * 19235 + b * 3735 + 16384) >> 15;
                int got = at(dst, v & 4095, v >>> 12, 0);
                if (got != expected) throw new AssertionError("gray(" + r + "," + g + "," + b + ") = " + got + ", expected " + expected);
            }
            assertPaddingUntouched(dst);
        }
    }

    /** Every RGB triple once: pixel (x, y) of the 4096 x 4096 frame is colour y * 4096 + x, R in the high byte. */
    static PixelFrame allTriples(Arena arena, int pad) {
        int stride = 4096 * 3 + pad;
        MemorySegment pixels = arena.allocate((long) stride * 4096);
        pixels.fill(PAD);
        for (int v = 0; v < 1 << 24; v++) {
            long o = (long) (v >>> 12) * stride + (v & 4095) * 3L;
            pixels.set(ValueLayout.JAVA_BYTE, o, (byte) (v >>> 16));
            pixels.set(ValueLayout.JAVA_BYTE, o + 1, (byte) (v >>> 8));
            pixels.set(ValueLayout.JAVA_BYTE, o + 2, (byte) v);
        }
        return new PixelFrame(4096, 4096, stride, PixelFormat.RGB8, pixels);
    }

    @Test
    void shouldWeighBlueAndRedTheOtherWayForABgrSource() {
        try (Arena arena = Arena.ofConfined()) {
            PixelFrame rgb = frame(arena, 31, 7, 1, PixelFormat.RGB8, new Random(3));
            PixelFrame bgr = blank(arena, 31, 7, 2, PixelFormat.BGR8);
            Kernels.rgbToBgr(rgb, bgr);
            PixelFrame fromRgb = blank(arena, 31, 7, 0, PixelFormat.GRAY8);
            PixelFrame fromBgr = blank(arena, 31, 7, 4, PixelFormat.GRAY8);
            Kernels.rgbToGray(rgb, fromRgb);
            Kernels.rgbToGray(bgr, fromBgr);
            for (int y = 0; y < 7; y++) {
                for (int x = 0; x < 31; x++) {
                    assertEquals(Kernels.gray(at(rgb, x, y, 0), at(rgb, x, y, 1), at(rgb, x, y, 2)), at(fromRgb, x, y, 0));
                    assertEquals(at(fromRgb, x, y, 0), at(fromBgr, x, y, 0));
                }
            }
        }
    }

    @Test
    void shouldKeepTheEndsOfTheRange() {
        assertEquals(0, Kernels.gray(0, 0, 0));
        assertEquals(255, Kernels.gray(255, 255, 255));
        assertEquals(32768, Kernels.GRAY_R + Kernels.GRAY_G + Kernels.GRAY_B);
    }

    @Test
    void shouldNameTheBadFieldBeforeTouchingAByte() {
        try (Arena arena = Arena.ofConfined()) {
            PixelFrame rgb = blank(arena, 4, 4, 0, PixelFormat.RGB8);
            PixelFrame rgba = blank(arena, 4, 4, 0, PixelFormat.RGBA8);
            PixelFrame gray = blank(arena, 4, 4, 0, PixelFormat.GRAY8);
            PixelFrame rgb2 = blank(arena, 4, 4, 0, PixelFormat.RGB8);
            assertMessage("src.format", () -> Kernels.rgbToBgr(rgba, rgb));
            assertMessage("dst.format must be BGR8", () -> Kernels.rgbToBgr(rgb, rgb2));
            assertMessage("src.format", () -> Kernels.rgbToGray(gray, gray));
            assertMessage("dst.format must be GRAY8", () -> Kernels.rgbToGray(rgb, rgb2));
            assertMessage("dst.width 5 differs from src.width 4", () -> Kernels.rgbToGray(rgb, blank(arena, 5, 4, 0, PixelFormat.GRAY8)));
            assertMessage("dst.height 3 differs from src.height 4", () -> Kernels.rgbToBgr(rgb, blank(arena, 4, 3, 0, PixelFormat.BGR8)));
            // Overlap: gray into the RGB bytes, and a swap shifted by one pixel or with another stride.
            assertMessage("overlap", () -> Kernels.rgbToGray(rgb, new PixelFrame(4, 4, 4, PixelFormat.GRAY8, rgb.pixels())));
            assertMessage("overlap", () -> Kernels.rgbToBgr(new PixelFrame(4, 3, 12, PixelFormat.RGB8, rgb.pixels()),
                    new PixelFrame(4, 3, 12, PixelFormat.BGR8, rgb.pixels().asSlice(3))));
            MemorySegment big = arena.allocate(200);
            assertMessage("overlap", () -> Kernels.rgbToBgr(new PixelFrame(4, 4, 12, PixelFormat.RGB8, big),
                    new PixelFrame(4, 4, 13, PixelFormat.BGR8, big)));
            assertEquals(-1, rgb2.pixels().mismatch(blank(arena, 4, 4, 0, PixelFormat.RGB8).pixels()), "nothing written");
        }
    }

    @Test
    void shouldCheckOverlapOfHeapFramesToo() {
        byte[] bytes = new byte[4 * 4 * 3];
        MemorySegment heap = MemorySegment.ofArray(bytes);
        PixelFrame rgb = PixelFrame.packed(4, 4, PixelFormat.RGB8, heap);
        assertMessage("overlap", () -> Kernels.rgbToGray(rgb, new PixelFrame(4, 4, 4, PixelFormat.GRAY8, heap.asSlice(8))));
        bytes[0] = 1;
        Kernels.rgbToBgr(rgb, PixelFrame.packed(4, 4, PixelFormat.BGR8, MemorySegment.ofArray(bytes)));   // same bytes: in place
        assertEquals(0, bytes[0]);
        assertEquals(1, bytes[2]);
    }

    @Test
    void shouldAcceptAdjacentOffHeapFrames() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment both = arena.allocate(2 * 4 * 4 * 3);
            PixelFrame first = PixelFrame.packed(4, 4, PixelFormat.RGB8, both.asSlice(0, 48));
            PixelFrame second = PixelFrame.packed(4, 4, PixelFormat.BGR8, both.asSlice(48, 48));
            first.pixels().set(ValueLayout.JAVA_BYTE, 47, (byte) 7);   // the last byte of the first frame
            Kernels.rgbToBgr(first, second);
            assertEquals(7, second.pixels().get(ValueLayout.JAVA_BYTE, 45));
            assertMessage("overlap", () -> Kernels.rgbToBgr(first, PixelFrame.packed(4, 4, PixelFormat.BGR8, both.asSlice(47, 48))));
        }
    }

    /** Checks included, the kernels allocate nothing on off-heap frames once compiled (KernelBenchmark shows the same). */
    @Test
    void shouldAllocateNothingOnOffHeapFrames() {
        try (Arena arena = Arena.ofConfined()) {
            Random random = new Random(3);
            PixelFrame rgb = frame(arena, 64, 8, 0, PixelFormat.RGB8, random);
            PixelFrame bgr = blank(arena, 64, 8, 0, PixelFormat.BGR8);
            PixelFrame gray = blank(arena, 64, 8, 0, PixelFormat.GRAY8);
            PixelFrame inPlace = new PixelFrame(64, 8, bgr.stride(), PixelFormat.RGB8, bgr.pixels());
            long[] perRound = new long[6];
            long fewest = Long.MAX_VALUE;
            for (int round = 0; round < perRound.length; round++) {
                long before = CurrentThreadAllocation.bytes();
                for (int i = 0; i < 20_000; i++) {
                    Kernels.rgbToBgr(rgb, bgr);
                    Kernels.rgbToBgr(inPlace, bgr);
                    Kernels.rgbToGray(rgb, gray);
                }
                perRound[round] = CurrentThreadAllocation.bytes() - before;
                fewest = Math.min(fewest, perRound[round]);
            }
            assertEquals(0, fewest, "bytes allocated per round of 20,000 calls of each kernel: " + java.util.Arrays.toString(perRound));
        }
    }

    private static void assertMessage(String part, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
