// The one function we use of this untyped package: an exclusive, non-blocking lock on a whole file
// (an open-file-description lock on Linux, flock on macOS, LockFileEx on Windows).
declare module 'fs-native-extensions' {
  /** False when another open file holds the lock (EAGAIN); throws on any other error. */
  export function tryLock(fd: number): boolean;
}
