package dev.panpipe.pixel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

/**
 * An image's pixels in memory: {@code height} rows of {@code stride} bytes, each row starting with
 * {@code width} pixels of {@code format}. The pixels are a {@link MemorySegment} that may be a view into
 * someone else's memory (a receive buffer, a shared-memory slot): {@link #copy} when it must outlive that.
 */
public record PixelFrame(int width, int height, int stride, PixelFormat format, MemorySegment pixels) {
    public PixelFrame {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("frame size must be positive: " + width + "x" + height);
        if ((long) stride < (long) width * format.bytesPerPixel()) {
            throw new IllegalArgumentException("stride " + stride + " is less than width " + width + " x " + format.bytesPerPixel() + " bytes");
        }
        if (pixels.byteSize() < (long) stride * height) {
            throw new IllegalArgumentException("pixels hold " + pixels.byteSize() + " bytes, " + stride + " x " + height + " needed");
        }
    }

    /** A tightly packed frame (stride = width x bytes per pixel) over {@code pixels}. */
    public static PixelFrame packed(int width, int height, PixelFormat format, MemorySegment pixels) {
        return new PixelFrame(width, height, width * format.bytesPerPixel(), format, pixels);
    }

    /** Bytes the pixel rows occupy: stride x height. */
    public long byteSize() {
        return (long) stride * height;
    }

    /** A copy of this frame with its own pixels from {@code allocator}. */
    public PixelFrame copy(SegmentAllocator allocator) {
        MemorySegment own = allocator.allocate(byteSize(), 64);
        own.copyFrom(pixels.asSlice(0, byteSize()));
        return new PixelFrame(width, height, stride, format, own);
    }
}
