/**
 * A UDP relay that drops datagrams at random, both ways: the packet loss of a bad network
 * between an SRT encoder and the server (this kernel has no netem). The encoder sends to the
 * relay's port; the relay forwards to the server from one socket per encoder address and
 * sends the answers back.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface LossyRelay {
  port: number;
  /** Datagrams forwarded and dropped, both directions. */
  counts(): { forwarded: number; dropped: number };
  close(): Promise<void>;
}

export async function startLossyRelay(target: { host: string; port: number }, lossRate: number, random: () => number = Math.random): Promise<LossyRelay> {
  const front = createSocket('udp4');
  const backs = new Map<string, Socket>();
  let forwarded = 0;
  let dropped = 0;
  const lose = () => {
    if (random() < lossRate) {
      dropped++;
      return true;
    }
    forwarded++;
    return false;
  };
  front.on('message', (msg, from) => {
    const key = `${from.address}:${from.port}`;
    let back = backs.get(key);
    if (!back) {
      const socket = createSocket('udp4');
      socket.on('message', (answer) => {
        if (!lose()) front.send(answer, from.port, from.address);
      });
      socket.on('error', () => undefined);
      socket.bind(0, '127.0.0.1');
      backs.set(key, socket);
      back = socket;
    }
    if (!lose()) back.send(msg, target.port, target.host);
  });
  front.on('error', () => undefined);
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  return {
    port: front.address().port,
    counts: () => ({ forwarded, dropped }),
    async close() {
      for (const s of backs.values()) s.close();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    },
  };
}
