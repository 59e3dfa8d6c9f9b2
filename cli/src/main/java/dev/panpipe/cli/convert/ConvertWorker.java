package dev.panpipe.cli.convert;

import dev.panpipe.connection.Codecs;
import dev.panpipe.connection.ConnectionClosedException;
import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.worker.WorkerContext;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The worker process of {@code panpipe convert}: receives RGB8 pixel frames on stdin, applies one
 * {@link Operation} into a reused output buffer, and answers with the converted frame. The received frame
 * is a view of the connection's receive buffer: the kernel reads it in place.
 *
 * <p>Usage (started by {@link ConvertCommand} through panpipe's Workers): {@code ConvertWorker bgr|gray}.
 */
public final class ConvertWorker {
    private ConvertWorker() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) throw new IllegalArgumentException("usage: ConvertWorker bgr|gray");
        Operation op = Operation.parse(args[0]);
        Arena arena = Arena.ofConfined();
        MemorySegment out = MemorySegment.NULL;
        try (WorkerContext ctx = WorkerContext.connect()) {
            for (;;) {
                PixelFrame in;
                try {
                    in = ctx.receive(Codecs.pixels());
                } catch (ConnectionClosedException endOfInput) {
                    break;
                }
                if (in.format() != PixelFormat.RGB8) {
                    throw new IllegalArgumentException("convert worker takes RGB8 frames, got " + in.format());
                }
                long size = op.outputSize(in.width(), in.height());
                if (out.byteSize() < size) {                // grow only: the same buffer serves every image that fits
                    arena.close();
                    arena = Arena.ofConfined();
                    out = arena.allocate(size, 64);
                }
                ctx.reply(op.convert(in, out), Codecs.pixels());
            }
        } finally {
            arena.close();
        }
    }
}
