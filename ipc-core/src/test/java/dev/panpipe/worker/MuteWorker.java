package dev.panpipe.worker;

import java.io.IOException;

/**
 * A worker that connects and then reads nothing, for {@link WorkersCloseFailureTest}: whoever sends to it
 * blocks once its stdin pipe is full. It sleeps until it is ended.
 */
public final class MuteWorker {
    private MuteWorker() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        try (WorkerContext ctx = WorkerContext.connect()) {
            Thread.sleep(120_000);
        }
    }
}
