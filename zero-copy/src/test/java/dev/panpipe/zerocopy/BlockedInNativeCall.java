package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A thread of this process asleep in a native call on shared memory: a {@code read(2)} from an empty pipe
 * straight into a segment, as code that reads a frame from a camera or a socket into a ring slot would be.
 * While it sleeps, the segment's arena counts it as a client and refuses to close, so a close that has to
 * unmap meets a real failure. {@link #close()} hands it the byte it waits for and closes the pipe.
 */
public final class BlockedInNativeCall implements AutoCloseable {
    private final int readFd;
    private final int writeFd;
    private final CompletableFuture<Long> read = new CompletableFuture<>();
    private boolean closed;

    private BlockedInNativeCall(int readFd, int writeFd) {
        this.readFd = readFd;
        this.writeFd = writeFd;
    }

    /** Starts the read into the first byte of {@code target} and returns once its thread sleeps in it. */
    public static BlockedInNativeCall readingInto(MemorySegment target) throws IOException, InterruptedException {
        int[] fds = new int[2];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pair = arena.allocate(ValueLayout.JAVA_INT, 2);
            Syscalls.pipe2(pair, linux_h.O_CLOEXEC());   // blocking: the read sleeps in the kernel
            fds[0] = pair.getAtIndex(ValueLayout.JAVA_INT, 0);
            fds[1] = pair.getAtIndex(ValueLayout.JAVA_INT, 1);
        }
        BlockedInNativeCall call = new BlockedInNativeCall(fds[0], fds[1]);
        CompletableFuture<Integer> tid = new CompletableFuture<>();
        Thread.ofPlatform().name("read-into-shared-memory").daemon().start(() -> {
            tid.complete(Syscalls.gettid());
            try {
                call.read.complete(Syscalls.read(call.readFd, target, 1));
            } catch (Throwable t) {
                call.read.completeExceptionally(t);
            }
        });
        try {
            call.awaitAsleep(tid.join(), target.address());
        } catch (IOException | RuntimeException | Error | InterruptedException e) {
            try {
                call.close();
            } catch (IOException | RuntimeException | Error suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        return call;
    }

    /**
     * Waits until the thread sleeps in a system call whose first two arguments are the pipe's read end and
     * {@code address} ({@code /proc/self/task/TID/syscall}: the number, then the arguments in hex).
     */
    private void awaitAsleep(int tid, long address) throws IOException, InterruptedException {
        Path syscall = Path.of("/proc/self/task/" + tid + "/syscall");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() - deadline < 0) {
            if (read.isDone()) throw new AssertionError("the read did not block: " + read);
            try {
                String[] words = Files.readString(syscall).trim().split(" ");
                if (words.length > 3 && Long.parseUnsignedLong(words[1].substring(2), 16) == readFd
                        && Long.parseUnsignedLong(words[2].substring(2), 16) == address) {
                    return;
                }
            } catch (NoSuchFileException | NumberFormatException | StringIndexOutOfBoundsException notYet) {
                // not started, or "running": look again
            }
            Thread.sleep(2);
        }
        throw new AssertionError("the read into shared memory did not block within 10 s");
    }

    /** Lets the read finish (one byte arrives), waits for it, and closes the pipe. Idempotent. */
    @Override
    public void close() throws IOException {
        if (closed) return;
        closed = true;
        try (Arena arena = Arena.ofConfined()) {
            Syscalls.write(writeFd, arena.allocateFrom(ValueLayout.JAVA_BYTE, (byte) 1), 1);
            long n = read.get(10, TimeUnit.SECONDS);
            if (n != 1) throw new AssertionError("the read returned " + n);
        } catch (Exception e) {
            throw new AssertionError("the read into shared memory did not end well", e);
        } finally {
            Syscalls.close(readFd);
            Syscalls.close(writeFd);
        }
    }
}
