package dev.panpipe.zerocopy.queue;

import dev.panpipe.zerocopy.shared.SharedIntArray;

import java.lang.foreign.ValueLayout;
import java.time.Duration;

/**
 * The other processes of {@link SharedQueueProcessTest}, started by {@link dev.panpipe.zerocopy.ChildJvm}
 * with the queue as fd 3:
 * <ul>
 *   <li>{@code produce ID COUNT}: puts {@code ID << 32 | seq} for seq 0..COUNT-1 and says how long it took;</li>
 *   <li>{@code consume PRODUCERS PER_PRODUCER} (fd 4 a SharedIntArray with one counter per message):
 *       takes longs until a {@link #STOP}, checks that each producer's sequence rises, adds 1 to each
 *       message's counter and says how long it took (from its first message) and how many it took;</li>
 *   <li>{@code claim-and-hang}: claims a slot, says "claimed" and waits to be killed;</li>
 *   <li>{@code read-and-hang}: takes a message in place, says "reading" and waits to be killed.</li>
 * </ul>
 */
public final class QueueChild {
    /** The message that tells a consumer to stop. */
    public static final long STOP = -1L;

    private QueueChild() {
    }

    public static void main(String[] args) throws Exception {
        try (SharedQueue queue = SharedQueue.attach(3)) {
            switch (args[0]) {
                case "produce" -> {
                    long id = Long.parseLong(args[1]);
                    int count = Integer.parseInt(args[2]);
                    long t0 = System.nanoTime();
                    for (int seq = 0; seq < count; seq++) queue.putLong(id << 32 | seq);
                    say("took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                    say("produced " + count);
                }
                case "consume" -> {
                    int producers = Integer.parseInt(args[1]);
                    int perProducer = Integer.parseInt(args[2]);
                    long[] last = new long[producers];
                    java.util.Arrays.fill(last, -1);
                    long taken = 0;
                    long t0 = 0;
                    try (SharedIntArray seen = SharedIntArray.attach(4)) {
                        for (long m; (m = queue.takeLong()) != STOP; taken++) {
                            if (taken == 0) t0 = System.nanoTime();
                            int id = (int) (m >>> 32);
                            int seq = (int) m;
                            if (id < 0 || id >= producers || seq < 0 || seq >= perProducer) {
                                say("FAIL message " + Long.toHexString(m) + " is no message that was sent");
                                System.exit(3);
                            }
                            if (seq <= last[id]) {
                                say("FAIL producer " + id + ": seq " + seq + " after " + last[id]);
                                System.exit(3);
                            }
                            last[id] = seq;
                            seen.getAndAdd((long) id * perProducer + seq, 1);
                        }
                    }
                    say("took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                    say("consumed " + taken);
                }
                case "claim-and-hang" -> {
                    QueueClaim claim = new QueueClaim();
                    if (!queue.tryClaim(claim)) throw new IllegalStateException("no room");
                    claim.buffer().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 0xdeadL);
                    say("claimed");
                    Thread.sleep(Long.MAX_VALUE);
                }
                case "read-and-hang" -> queue.poll(message -> {
                    say("reading");
                    try {
                        Thread.sleep(Long.MAX_VALUE);
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }, Duration.ofSeconds(30));
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        }
    }

    static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
