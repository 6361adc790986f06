import { BadRequestException } from '@nestjs/common';

/** The body of POST /index-jobs. */
export interface IndexJobRequest {
  userId: string;
  documents: string[];
}

const MAX_DOCUMENTS = 1000;
const MAX_USER_ID = 64;

/** Checks the shape of the request; each document is also checked by the embed serving's validate(). */
export function parseIndexJobRequest(body: unknown): IndexJobRequest {
  const { userId, documents } = (body ?? {}) as Partial<Record<keyof IndexJobRequest, unknown>>;
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID) {
    throw new BadRequestException(`userId must be a string of 1 to ${MAX_USER_ID} characters`);
  }
  if (!Array.isArray(documents) || documents.length === 0 || documents.length > MAX_DOCUMENTS) {
    throw new BadRequestException(`documents must be an array of 1 to ${MAX_DOCUMENTS} strings`);
  }
  if (!documents.every((d) => typeof d === 'string' && d.trim() !== '')) throw new BadRequestException('every document must be a non-empty string');
  return { userId, documents: documents as string[] };
}
