package dev.panpipe.zerocopy.ring;

/**
 * How a ring end waits for its peer: spin first (a hand-off between two busy cores takes well under a
 * microsecond), then yield the CPU a few times (so a peer on the same core can run), then, unless told to
 * spin forever, sleep on the doorbell: a futex on the peer's position counter. A strategy that sleeps skips
 * the spinning while the peer last ran on the waiter's own CPU (each end notes its CPU in the ring header),
 * since there the peer cannot move until the waiter yields or sleeps.
 *
 * <p>Why a futex on the shared counter rather than an eventfd or a pipe byte: the sleeper announces itself
 * in a shared "waiting" word, so a producer or consumer whose peer is awake never makes a system call (an
 * eventfd must be written on every frame or needs the same flag anyway), nothing has to be handed to the
 * peer (named rings join by name alone), and C and Python peers need only the mapping. Measured on this
 * project's 2-vCPU VM (bench/results): a futex wake/wait pair costs the same as an eventfd write/read
 * pair, so the saved system calls decide. What the futex cannot do is wait on the peer's death at the
 * same time; the sleeper therefore wakes every {@link #livenessCheckNanos()} to look (pidfd), which bounds
 * how late a dead peer is noticed.
 *
 * @param spins              busy-wait iterations ({@link Thread#onSpinWait}) before yielding
 * @param yields             {@link Thread#yield} calls before sleeping
 * @param sleep              false: never sleep (burn the core, lowest latency)
 * @param livenessCheckNanos longest sleep between two checks that the peer still lives
 */
public record WaitStrategy(int spins, int yields, boolean sleep, long livenessCheckNanos) {
    private static final long DEFAULT_LIVENESS_CHECK_NANOS = 20_000_000L;

    public WaitStrategy {
        if (spins < 0 || yields < 0) throw new IllegalArgumentException("spins and yields must be >= 0: " + spins + ", " + yields);
        if (livenessCheckNanos <= 0) throw new IllegalArgumentException("livenessCheckNanos must be positive: " + livenessCheckNanos);
        if (!sleep && spins == 0 && yields == 0) throw new IllegalArgumentException("a strategy that never sleeps must spin or yield");
    }

    /** Spin briefly, yield, then sleep on the futex doorbell: the default. */
    public static WaitStrategy doorbell() {
        // 40 spins are about 1 us here (a PAUSE is ~27 ns): long enough for a peer on another core to answer,
        // short enough to cost little when the peer is slow. (On a core shared with the peer the spins are skipped.)
        return new WaitStrategy(40, 4, true, DEFAULT_LIVENESS_CHECK_NANOS);
    }

    /** Sleep at once, like a blocking read on an eventfd: the least CPU, the most wake-ups. */
    public static WaitStrategy sleepAtOnce() {
        return new WaitStrategy(0, 0, true, DEFAULT_LIVENESS_CHECK_NANOS);
    }

    /** Never sleep: each waiting end keeps a core busy. Only for ends pinned to cores of their own. */
    public static WaitStrategy spinning() {
        return new WaitStrategy(Integer.MAX_VALUE, 0, false, DEFAULT_LIVENESS_CHECK_NANOS);
    }
}
