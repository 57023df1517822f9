export { type ClientOptions, CofferApiError, CofferClient, type PageResult } from './client.ts';
