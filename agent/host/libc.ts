/**
 * The few libc calls Node has no API for, bound once through koffi: sealed memfds
 * (memfd_create, fcntl seals) and passing a descriptor to another process over a Unix socket
 * (sendmsg/recvmsg with SCM_RIGHTS). Linux x86_64/aarch64 layouts (LP64); null where libc or
 * the calls are missing, and callers fall back or refuse.
 */
import koffi from 'koffi';

export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
export const F_ADD_SEALS = 1033;
export const F_GET_SEALS = 1034;
export const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;
export const F_SEAL_GROW = 0x4;
export const F_SEAL_WRITE = 0x8;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_CMSG_CLOEXEC = 0x40000000;

export interface Libc {
  memfdCreate(name: string, flags: number): number;
  /** fcntl(fd, cmd) or fcntl(fd, cmd, int) */
  fcntl(fd: number, cmd: number, arg?: number): number;
  dup(fd: number): number;
  close(fd: number): number;
  sendmsg(fd: number, msg: Buffer, flags: number): number;
  recvmsg(fd: number, msg: Buffer, flags: number): number;
}

let libc: Libc | null | undefined;

export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  if (process.platform !== 'linux' || process.arch.endsWith('32') || process.arch === 'ia32') return (libc = null);
  try {
    const lib = koffi.load('libc.so.6');
    const fcntl = lib.func('int fcntl(int fd, int cmd, ...)') as (fd: number, cmd: number, ...rest: unknown[]) => number;
    libc = {
      memfdCreate: lib.func('int memfd_create(const char *name, unsigned int flags)') as Libc['memfdCreate'],
      fcntl: (fd, cmd, arg) => (arg === undefined ? fcntl(fd, cmd) : fcntl(fd, cmd, 'int', arg)),
      dup: lib.func('int dup(int fd)') as Libc['dup'],
      close: lib.func('int close(int fd)') as Libc['close'],
      sendmsg: lib.func('intptr_t sendmsg(int fd, void *msg, int flags)') as Libc['sendmsg'],
      recvmsg: lib.func('intptr_t recvmsg(int fd, void *msg, int flags)') as Libc['recvmsg'],
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** A struct msghdr with one 1-byte iovec and room for one SCM_RIGHTS descriptor; the buffers must outlive the call. */
function message(fdToSend?: number): { msg: Buffer; control: Buffer; keep: Buffer[] } {
  const data = Buffer.alloc(1);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(koffi.address(data), 0);
  iov.writeBigUInt64LE(1n, 8);
  // CMSG_SPACE(sizeof(int)) = 24: cmsg_len (size_t), cmsg_level, cmsg_type (int), the fd, padding
  const control = Buffer.alloc(24);
  if (fdToSend !== undefined) {
    control.writeBigUInt64LE(20n, 0); // CMSG_LEN(sizeof(int))
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    control.writeInt32LE(fdToSend, 16);
  }
  const msg = Buffer.alloc(56);
  msg.writeBigUInt64LE(koffi.address(iov), 16); // msg_iov
  msg.writeBigUInt64LE(1n, 24); // msg_iovlen
  msg.writeBigUInt64LE(koffi.address(control), 32); // msg_control
  msg.writeBigUInt64LE(24n, 40); // msg_controllen
  return { msg, control, keep: [data, iov] };
}

/** Send descriptor `fd` over the Unix socket `socketFd` (one byte of data carries it). */
export function sendFd(c: Libc, socketFd: number, fd: number): boolean {
  const m = message(fd);
  const n = c.sendmsg(socketFd, m.msg, MSG_DONTWAIT);
  m.keep.length = 0;
  return n === 1;
}

/**
 * The descriptor waiting on the Unix socket `socketFd`, or undefined when none is there (never
 * blocks: the sender queued it before it sent the message that makes us look).
 */
export function receiveFd(c: Libc, socketFd: number): number | undefined {
  const m = message();
  const n = c.recvmsg(socketFd, m.msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n !== 1) return undefined;
  const len = m.msg.readBigUInt64LE(40);
  if (len < 20n || m.control.readInt32LE(8) !== SOL_SOCKET || m.control.readInt32LE(12) !== SCM_RIGHTS) return undefined;
  return m.control.readInt32LE(16);
}
