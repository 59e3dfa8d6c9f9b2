package dev.panpipe.cli.convert;

import dev.panpipe.connection.Codecs;
import dev.panpipe.connection.ConnectionClosedException;
import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.worker.WorkerContext;
import dev.panpipe.zerocopy.ring.FrameClaim;
import dev.panpipe.zerocopy.ring.FrameLink;
import dev.panpipe.zerocopy.ring.FrameRingClosedException;
import dev.panpipe.zerocopy.ring.FrameView;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The worker process of {@code panpipe convert}. Usage (started by {@link ConvertCommand} through panpipe's
 * Workers): {@code ConvertWorker bgr|gray --shm|--pipe}.
 * <ul>
 *   <li>{@code --shm}: takes RGB8 frames from the frame ring inherited as fd 3 and converts each from its slot
 *       straight into a slot of the ring back (fd 4). Nothing is copied but by the kernel of the operation.</li>
 *   <li>{@code --pipe}: receives pixel frames on stdin (a view of the connection's receive buffer), converts
 *       into a reused buffer and replies with the converted frame.</li>
 * </ul>
 */
public final class ConvertWorker {
    private ConvertWorker() {
    }

    public static void main(String[] args) {
        if (args.length != 2 || !(args[1].equals("--shm") || args[1].equals("--pipe"))) {
            throw new IllegalArgumentException("usage: ConvertWorker bgr|gray --shm|--pipe");
        }
        Operation op = Operation.parse(args[0]);
        try (WorkerContext ctx = WorkerContext.connect()) {
            if (args[1].equals("--shm")) {
                overRings(op);
            } else {
                overPipes(op, ctx);
            }
        } catch (IOException e) {
            // Its stderr is panpipe's, a terminal's most likely: one line, not the stack trace of a peer that
            // died (panpipe killed, say). The parent names a worker that failed, by its name, itself.
            System.err.println("panpipe convert worker (" + op.label() + ", pid " + ProcessHandle.current().pid() + "): " + e.getMessage());
            System.exit(1);
        }
    }

    private static void overRings(Operation op) throws IOException {
        try (FrameLink link = FrameLink.inherited()) {
            for (;;) {
                FrameView in;
                try {
                    in = link.in().take();
                } catch (FrameRingClosedException endOfInput) {
                    break;
                }
                checkRgb(in.format());
                FrameClaim out;
                try {
                    out = link.out().claim(in.width(), in.height(), op.output());
                } catch (FrameRingClosedException parentStoppedTaking) {
                    break;   // the parent closed its end of the ring back: it wants no more results
                }
                op.convert(new PixelFrame(in.width(), in.height(), in.stride(), in.format(), in.pixels()), out.pixels());
                out.commit();
                in.release();
            }
        }
    }

    private static void overPipes(Operation op, WorkerContext ctx) throws IOException {
        Arena arena = Arena.ofConfined();
        MemorySegment out = MemorySegment.NULL;
        try {
            for (;;) {
                PixelFrame in;
                try {
                    in = ctx.receive(Codecs.pixels());
                } catch (ConnectionClosedException endOfInput) {
                    break;
                }
                checkRgb(in.format());
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

    private static void checkRgb(PixelFormat format) {
        if (format != PixelFormat.RGB8) throw new IllegalArgumentException("convert worker takes RGB8 frames, got " + format);
    }
}
