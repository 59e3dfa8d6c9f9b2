package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A ring peer in a child JVM, for the cross-process tests.
 * <ul>
 *   <li>{@code produce FD COUNT WIDTH HEIGHT}: attaches as producer to the ring handed over as FD and commits COUNT
 *       RGB8 frames whose every byte is {@code (sequence * 31 + i) & 0xff}; prints the sum of all bytes.</li>
 *   <li>{@code consume FD}: takes frames until end of stream; prints frames and the sum of all bytes.</li>
 *   <li>{@code produce-paced FD COUNT PAUSE_MICROS}: commits COUNT 8-byte frames (the sequence number), pausing
 *       PAUSE_MICROS between two, so that the consumer sleeps on the doorbell; prints "done".</li>
 *   <li>{@code produce-then-hang FD COUNT}: commits COUNT small frames, prints "ready", then sleeps (to be killed).</li>
 *   <li>{@code consume-then-hang FD}: attaches as consumer, prints "ready", then sleeps without taking.</li>
 * </ul>
 */
public final class RingPeerMain {
    public static void main(String[] args) throws Exception {
        int fd = Integer.parseInt(args[1]);
        try (FrameRing ring = FrameRing.map(fd)) {
            switch (args[0]) {
                case "produce" -> {
                    long count = Long.parseLong(args[2]);
                    int w = Integer.parseInt(args[3]);
                    int h = Integer.parseInt(args[4]);
                    long sum = 0;
                    try (FrameProducer producer = ring.producer()) {
                        for (long seq = 0; seq < count; seq++) {
                            FrameClaim claim = producer.claim(w, h, PixelFormat.RGB8);
                            sum += fill(claim.pixels(), seq);
                            claim.commit();
                        }
                    }
                    System.out.println(sum);
                }
                case "consume" -> {
                    long frames = 0;
                    long sum = 0;
                    try (FrameConsumer consumer = ring.consumer()) {
                        for (;;) {
                            FrameView view;
                            try {
                                view = consumer.take();
                            } catch (FrameRingClosedException endOfStream) {
                                break;
                            }
                            sum += sum(view.pixels());
                            frames++;
                            view.release();
                        }
                    }
                    System.out.println(frames + " " + sum);
                }
                case "produce-paced" -> {
                    long pause = Long.parseLong(args[3]) * 1000;
                    try (FrameProducer producer = ring.producer()) {
                        for (long seq = 0, n = Long.parseLong(args[2]); seq < n; seq++) {
                            FrameClaim claim = producer.claimBytes(8);
                            claim.pixels().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, seq);
                            claim.commit();
                            java.util.concurrent.locks.LockSupport.parkNanos(pause);
                        }
                    }
                    System.out.println("done");
                }
                case "produce-then-hang" -> {
                    FrameProducer producer = ring.producer();
                    for (long seq = 0, n = Long.parseLong(args[2]); seq < n; seq++) {
                        FrameClaim claim = producer.claim(4, 4, PixelFormat.GRAY8);
                        fill(claim.pixels(), seq);
                        claim.commit();
                    }
                    System.out.println("ready");
                    Thread.sleep(600_000);
                }
                case "consume-then-hang" -> {
                    ring.consumer();
                    System.out.println("ready");
                    Thread.sleep(600_000);
                }
                default -> throw new IllegalArgumentException(args[0]);
            }
        }
    }

    static long fill(MemorySegment pixels, long seq) {
        long sum = 0;
        for (long i = 0; i < pixels.byteSize(); i++) {
            byte b = (byte) (seq * 31 + i);
            pixels.set(ValueLayout.JAVA_BYTE, i, b);
            sum += b & 0xff;
        }
        return sum;
    }

    static long sum(MemorySegment pixels) {
        long sum = 0;
        for (long i = 0; i < pixels.byteSize(); i++) sum += pixels.get(ValueLayout.JAVA_BYTE, i) & 0xff;
        return sum;
    }
}
