package dev.panpipe.zerocopy.shared;

/**
 * The process that held a {@link SharedLock} ended without unlocking it (killed, crashed, exited), and the
 * caller has taken the lock over: <b>when this is thrown the caller holds the lock</b>, exactly as after a
 * normal acquisition, and must {@link SharedLock#unlock()} it. What the lock protects may be half updated;
 * repair or re-check it first. This is {@code EOWNERDEAD} of a robust pthread mutex, as an exception.
 *
 * {@snippet :
 * try {
 *     lock.lock();
 * } catch (LockOwnerDiedException e) {
 *     rebuildIndex();                       // we hold the lock; the dead owner may have stopped half-way
 * }
 * try {
 *     update();
 * } finally {
 *     lock.unlock();
 * }
 * }
 */
public final class LockOwnerDiedException extends Exception {
    private final int ownerPid;

    public LockOwnerDiedException(String lockName, int ownerPid) {
        super(lockName + (ownerPid == 0 ? ": its word named no owner process (another process wrote over it)"
                : ": its owner, process " + ownerPid + ", ended while holding it")
                + "; the lock is now held by the caller and the state it protects may be inconsistent");
        this.ownerPid = ownerPid;
    }

    /** The pid of the process that died holding the lock; 0 if the lock word named none (it was written over). */
    public int ownerPid() {
        return ownerPid;
    }
}
