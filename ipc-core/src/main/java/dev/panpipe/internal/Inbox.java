package dev.panpipe.internal;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bounded queue between one producer that must never block (an event loop) and consumers that may.
 * {@link #offer} refuses when full (the producer then pauses its source: backpressure) unless the inbox
 * drops its oldest entry instead. {@link #finish} ends it: takers drain what is left, then get the
 * terminal exception (or null for a clean end).
 */
public final class Inbox<E> {
    private final int capacity;
    private final boolean dropOldest;
    private final ArrayDeque<E> items;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private boolean finished;
    private IOException failure;
    private long dropped;

    public Inbox(int capacity, boolean dropOldest) {
        if (capacity <= 0) throw new IllegalArgumentException("inbox capacity must be positive: " + capacity);
        this.capacity = capacity;
        this.dropOldest = dropOldest;
        this.items = new ArrayDeque<>(Math.min(capacity, 1024));
    }

    /** Adds {@code item}; false if the inbox is full and does not drop (the caller keeps the item and pauses). */
    public boolean offer(E item) {
        lock.lock();
        try {
            if (items.size() >= capacity) {
                if (!dropOldest) return false;
                items.pollFirst();
                dropped++;
            }
            items.addLast(item);
            changed.signalAll();
            return true;
        } finally {
            lock.unlock();
        }
    }

    public boolean hasRoom() {
        lock.lock();
        try {
            return dropOldest || items.size() < capacity;
        } finally {
            lock.unlock();
        }
    }

    /** Ends the inbox: {@code failure} (or null for a clean end) is what takers get once it is empty. */
    public void finish(IOException failure) {
        lock.lock();
        try {
            if (finished) return;
            finished = true;
            this.failure = failure;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The next item, waiting up to {@code timeoutNanos} (negative: no limit).
     *
     * @return the item, or null on timeout or when the inbox has finished cleanly and is empty (see {@link #isDrained()})
     * @throws IOException the terminal failure, once the inbox is finished and empty
     */
    public E take(long timeoutNanos) throws IOException, InterruptedException {
        lock.lockInterruptibly();
        try {
            long left = timeoutNanos;
            while (items.isEmpty()) {
                if (finished) {
                    if (failure != null) throw failure;
                    return null;
                }
                if (timeoutNanos < 0) {
                    changed.await();
                } else {
                    if (left <= 0) return null;
                    left = changed.awaitNanos(left);
                }
            }
            return items.pollFirst();
        } finally {
            lock.unlock();
        }
    }

    /** True once finished and empty: nothing more will come. */
    public boolean isDrained() {
        lock.lock();
        try {
            return finished && items.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    public long dropped() {
        lock.lock();
        try {
            return dropped;
        } finally {
            lock.unlock();
        }
    }

    public int size() {
        lock.lock();
        try {
            return items.size();
        } finally {
            lock.unlock();
        }
    }
}
