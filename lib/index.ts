import 'reflect-metadata';

export * from './core';
export * from './nest';
export * from './transports';
