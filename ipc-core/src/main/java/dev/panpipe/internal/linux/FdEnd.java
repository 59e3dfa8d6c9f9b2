package dev.panpipe.internal.linux;

/** What the two kinds of fd end share: the owning {@link FdHandle} and the blocking mode the API emulates. */
public abstract sealed class FdEnd permits FdReadEnd, FdWriteEnd {
    final FdHandle handle;
    volatile boolean blocking = true;

    FdEnd(FdHandle handle) {
        this.handle = handle;
    }

    public FdHandle handle() {
        return handle;
    }

    public void blocking(boolean blocking) {
        if (!handle.isOpen()) throw new IllegalStateException(handle.description() + " is closed");
        this.blocking = blocking;
    }

    public boolean isBlocking() {
        return blocking;
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    public long nativeHandle() {
        return handle.fdOrMinusOne();
    }

    public void close() {
        handle.close();
    }

    @Override
    public String toString() {
        return handle.toString();
    }
}
