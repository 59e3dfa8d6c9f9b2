package dev.panpipe.worker;

import java.time.Duration;

/**
 * A JVM that starts workers and never closes them, for {@link WorkersTest#shouldRemoveTheWorkerDirectoryOfAKilledJvm}:
 * prints {@code dir=}its worker directory, {@code echo=} and {@code late=} its two workers' pids, one per line,
 * then waits until it is killed. The late worker never connects (it reads its stdin and says no hello), so its
 * FIFO stays in the directory as a killed JVM would leave one; both workers end at the end of their stdin.
 */
public final class AbandoningParent {
    private AbandoningParent() {
    }

    public static void main(String[] args) throws Exception {
        Workers workers = Workers.create();
        Worker echo = workers.start(WorkerSpec.java("echo", EchoWorker.class));
        Thread late = Thread.ofPlatform().daemon().start(() -> {
            try {
                workers.start(WorkerSpec.command("late", "sh", "-c", "echo late=$$; exec cat >/dev/null")
                        .connectTimeout(Duration.ofMinutes(10)));
            } catch (Exception e) {
                // killed before it could matter
            }
        });
        while (!java.nio.file.Files.exists(workers.directory().resolve("late.results"))) Thread.sleep(1);
        System.out.println("dir=" + workers.directory());
        System.out.println("echo=" + echo.pid());
        System.out.flush();
        late.join();
    }
}
