package dev.panpipe.cli.convert;

import dev.panpipe.connection.Codecs;
import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.worker.Result;
import dev.panpipe.worker.Worker;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/** A worker fed pixel frames over its stdin; its results come back through its FIFO and are copied to the heap. */
final class PipeLane implements Lane {
    private final String name;
    private final Worker worker;
    private final Queue<String> pendingNames = new ConcurrentLinkedQueue<>();
    private Arena arena = Arena.ofShared();
    private MemorySegment buffer = MemorySegment.NULL;
    private PixelFrame claimed;

    PipeLane(String name, Worker worker) {
        this.name = name;
        this.worker = worker;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public MemorySegment claim(int width, int height) {
        long size = (long) width * height * 3;
        if (buffer.byteSize() < size) {   // grow only: one buffer serves every image that fits
            arena.close();
            arena = Arena.ofShared();
            buffer = arena.allocate(size, 64);
        }
        claimed = PixelFrame.packed(width, height, PixelFormat.RGB8, buffer.asSlice(0, size));
        return claimed.pixels();
    }

    @Override
    public void commit(String imageName) throws IOException {
        pendingNames.add(imageName);
        worker.send(claimed, Codecs.pixels());
        claimed = null;
    }

    @Override
    public void abort() {
        claimed = null;
    }

    @Override
    public void endInput() throws IOException {
        worker.endInput();
    }

    @Override
    public void drain(Results results) throws Exception {
        for (Result r; (r = worker.take()) != null; ) {
            results.accept(pendingNames.remove(), r.decode(Codecs.pixels()));
        }
    }

    @Override
    public void stopWorker() {
        Lane.terminate(worker);
    }

    @Override
    public void close() {
        arena.close();
    }
}
