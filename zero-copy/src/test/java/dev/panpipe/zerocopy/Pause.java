package dev.panpipe.zerocopy;

import java.util.Random;
import java.util.concurrent.locks.LockSupport;

/** How long a thread of a concurrency test waits between two of its steps, to vary the interleavings. */
public enum Pause {
    NONE, YIELD, SHORT, LONG;

    /** Not at all, a yield, or a park of up to 50 or 500 us. */
    public void take(Random r) {
        switch (this) {
            case NONE -> {
            }
            case YIELD -> Thread.yield();
            case SHORT -> LockSupport.parkNanos(r.nextInt(50_000));
            case LONG -> LockSupport.parkNanos(r.nextInt(500_000));
        }
    }

    public static Pause random(Random r) {
        return values()[r.nextInt(values().length)];
    }
}
