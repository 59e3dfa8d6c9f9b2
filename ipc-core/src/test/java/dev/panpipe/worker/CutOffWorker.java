package dev.panpipe.worker;

import dev.panpipe.connection.FrameDescriptor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A worker that ends in the middle of its first result, for {@link WorkersTest}: after one message it writes
 * the start of a text frame of 100 payload bytes, either 8 bytes of its header ({@code header}) or the whole
 * header and 10 bytes of payload ({@code payload}), and exits 0, closing its results.
 */
public final class CutOffWorker {
    private CutOffWorker() {
    }

    public static void main(String[] args) throws IOException {
        try (WorkerContext ctx = WorkerContext.connect()) {
            ctx.receive();
            byte[] frame = new byte[FrameDescriptor.HEADER_LENGTH + 100];
            // Sequence 1: the hello was frame 0, so the header itself is right and only the end is missing.
            FrameDescriptor.writeHeader(MemorySegment.ofArray(frame), 0, FrameDescriptor.TYPE_TEXT, 100, 1);
            MemorySegment.ofArray(frame).asSlice(FrameDescriptor.HEADER_LENGTH).fill((byte) 'x');
            int length = args[0].equals("header") ? 8 : FrameDescriptor.HEADER_LENGTH + 10;
            ctx.rawResults().write(frame, 0, length);
        }
    }
}
