package dev.panpipe.cli.convert;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.zerocopy.kernel.Kernels;

import java.lang.foreign.MemorySegment;

/** What {@code panpipe convert} can do to an RGB8 image: each is one kernel writing into a caller's buffer. */
public enum Operation {
    /** Swap R and B: OpenCV's {@code COLOR_RGB2BGR}. */
    BGR(PixelFormat.BGR8) {
        @Override
        void apply(PixelFrame src, PixelFrame dst) {
            Kernels.rgbToBgr(src, dst);
        }
    },
    /** BT.601 luma with OpenCV's rounding: {@code COLOR_RGB2GRAY}. */
    GRAY(PixelFormat.GRAY8) {
        @Override
        void apply(PixelFrame src, PixelFrame dst) {
            Kernels.rgbToGray(src, dst);
        }
    };

    private final PixelFormat output;

    Operation(PixelFormat output) {
        this.output = output;
    }

    abstract void apply(PixelFrame src, PixelFrame dst);

    /** The pixel format this operation writes. */
    PixelFormat output() {
        return output;
    }

    /** Bytes of output for a {@code width x height} image. */
    long outputSize(int width, int height) {
        return (long) width * output.bytesPerPixel() * height;
    }

    /** Converts {@code src} into {@code buffer} (at least {@link #outputSize} bytes) and returns the frame there. */
    PixelFrame convert(PixelFrame src, MemorySegment buffer) {
        PixelFrame dst = PixelFrame.packed(src.width(), src.height(), output, buffer);
        apply(src, dst);
        return dst;
    }

    /** The lower-case name used on the command line and as the output folder. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    public static Operation parse(String s) {
        for (Operation op : values()) {
            if (op.label().equals(s)) return op;
        }
        throw new IllegalArgumentException("unknown operation '" + s + "' (known: bgr, gray)");
    }
}
