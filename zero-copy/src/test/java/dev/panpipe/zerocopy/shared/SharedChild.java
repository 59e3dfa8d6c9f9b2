package dev.panpipe.zerocopy.shared;

/**
 * The other processes of {@link SharedBlockProcessTest}, started by {@link dev.panpipe.zerocopy.ChildJvm}
 * with shared memory as fds 3, 4, ...: {@code count-locked N PARTIES} (fd 3 a SharedLong, fd 4 a SharedInt
 * start gate), {@code count-atomic N PARTIES} (fd 3 SharedLong, fd 4 SharedDouble, fd 5 gate),
 * {@code hold-lock} (fd 3 a SharedLock: takes it, says "locked" and waits to be killed), {@code hold-lock-of-long}
 * (the same with the lock of the SharedLong at fd 3, which it sets to -1 first).
 */
public final class SharedChild {
    private SharedChild() {
    }

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "count-locked" -> {
                long n = Long.parseLong(args[1]);
                try (SharedLong counter = SharedLong.attach(3); SharedInt gate = SharedInt.attach(4)) {
                    arrive(gate, Integer.parseInt(args[2]));
                    long t0 = System.nanoTime();
                    SharedLock lock = counter.getLock();
                    for (long i = 0; i < n; i++) {
                        lock.lock();
                        try {
                            counter.setPlain(counter.getPlain() + 1);
                        } finally {
                            lock.unlock();
                        }
                    }
                    say("loop " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                }
            }
            case "count-atomic" -> {
                long n = Long.parseLong(args[1]);
                try (SharedLong counter = SharedLong.attach(3); SharedDouble sum = SharedDouble.attach(4);
                     SharedInt gate = SharedInt.attach(5)) {
                    arrive(gate, Integer.parseInt(args[2]));
                    long t0 = System.nanoTime();
                    for (long i = 0; i < n; i++) {
                        counter.incrementAndGet();
                        sum.addAndGet(1.0);
                    }
                    say("loop " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                }
            }
            case "hold-lock" -> {
                SharedLock lock = SharedLock.attach(3);
                lock.lock();
                say("locked");
                Thread.sleep(Long.MAX_VALUE);
            }
            case "hold-lock-of-long" -> {
                SharedLong value = SharedLong.attach(3);
                value.getLock().lock();
                value.setPlain(-1);                               // half-way through an update
                say("locked");
                Thread.sleep(Long.MAX_VALUE);
            }
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
        say("done");
    }

    /** Waits until {@code parties} processes have arrived, so that they all run their loops at once. */
    private static void arrive(SharedInt gate, int parties) {
        gate.incrementAndGet();
        while (gate.get() < parties) Thread.onSpinWait();
    }

    static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
