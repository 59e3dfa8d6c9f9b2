package dev.panpipe.connection;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Pixel frames (type 3): a 16-byte pixel header, then the rows. No object serialization.
 *
 * <pre>
 *  0               4               8               12      13      16
 * +---------------+---------------+---------------+-------+-------+
 * |  width (u32)  | height (u32)  | stride (u32)  |format | 0 0 0 |  then stride x height bytes of pixels
 * +---------------+---------------+---------------+-------+-------+
 * </pre>
 *
 * {@link #decode} returns a frame whose pixels are a view of the receive buffer: zero-copy, valid until
 * the next receive ({@link PixelFrame#copy} to keep it).
 */
final class PixelFrameCodec implements Codec<PixelFrame> {
    static final int HEADER_LENGTH = 16;
    private static final int WIDTH = 0, HEIGHT = 4, STRIDE = 8, FORMAT = 12, RESERVED = 13;

    @Override
    public int type() {
        return FrameDescriptor.TYPE_PIXELS;
    }

    @Override
    public void encode(PixelFrame frame, PayloadWriter out) throws ProtocolException {
        MemorySegment dst = out.claim(HEADER_LENGTH + frame.byteSize());
        dst.set(FrameDescriptor.U32, WIDTH, frame.width());
        dst.set(FrameDescriptor.U32, HEIGHT, frame.height());
        dst.set(FrameDescriptor.U32, STRIDE, frame.stride());
        dst.set(ValueLayout.JAVA_BYTE, FORMAT, (byte) frame.format().code());
        dst.asSlice(RESERVED, 3).fill((byte) 0);
        MemorySegment.copy(frame.pixels(), 0, dst, HEADER_LENGTH, frame.byteSize());
    }

    @Override
    public PixelFrame decode(MemorySegment payload) throws ProtocolException {
        if (payload.byteSize() < HEADER_LENGTH) {
            throw new ProtocolException("pixels.header", payload.byteSize(), "pixel frame of " + payload.byteSize()
                    + " bytes is shorter than its " + HEADER_LENGTH + "-byte header");
        }
        long width = payload.get(FrameDescriptor.U32, WIDTH) & 0xffffffffL;
        long height = payload.get(FrameDescriptor.U32, HEIGHT) & 0xffffffffL;
        long stride = payload.get(FrameDescriptor.U32, STRIDE) & 0xffffffffL;
        int code = payload.get(ValueLayout.JAVA_BYTE, FORMAT) & 0xff;
        PixelFormat format = PixelFormat.ofCode(code);
        if (format == null) throw new ProtocolException("pixels.format", code, "unknown pixel format " + code);
        for (int i = 0; i < 3; i++) {
            int b = payload.get(ValueLayout.JAVA_BYTE, RESERVED + i) & 0xff;
            if (b != 0) throw new ProtocolException("pixels.reserved", b, "pixel header reserved byte " + i + " is " + b + " (must be 0)");
        }
        if (width == 0 || width > Integer.MAX_VALUE) throw new ProtocolException("pixels.width", width, "bad pixel frame width " + width);
        if (height == 0 || height > Integer.MAX_VALUE) throw new ProtocolException("pixels.height", height, "bad pixel frame height " + height);
        if (stride < width * format.bytesPerPixel() || stride > Integer.MAX_VALUE) {
            throw new ProtocolException("pixels.stride", stride, "stride " + stride + " is less than width " + width + " x "
                    + format.bytesPerPixel() + " bytes of " + format);
        }
        long expected = HEADER_LENGTH + stride * height;
        if (payload.byteSize() != expected) {
            throw new ProtocolException("pixels.length", payload.byteSize(), "pixel frame " + width + "x" + height + " stride "
                    + stride + " needs " + expected + " bytes, payload has " + payload.byteSize());
        }
        return new PixelFrame((int) width, (int) height, (int) stride, format, payload.asSlice(HEADER_LENGTH, stride * height));
    }
}
