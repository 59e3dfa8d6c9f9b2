package dev.panpipe.testing;

import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

/** Work run on a virtual thread of its own, its outcome waited for with a timeout, so a stuck thread fails a test. */
public final class VirtualThreads {
    private VirtualThreads() {
    }

    /** Starts {@code body} on a new virtual thread; the future completes with its result or what it threw. */
    public static <T> CompletableFuture<T> call(Callable<T> body) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                result.complete(body.call());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        return result;
    }
}
