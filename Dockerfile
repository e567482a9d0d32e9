# The walletstream services (API, relay, processors): one image, the command picks the service.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY api ./api
COPY bin ./bin
COPY infra ./infra
COPY processors ./processors
COPY producers ./producers
COPY schemas ./schemas
COPY tsconfig.json ./
USER node
EXPOSE 3000
CMD ["npm", "run", "start:api"]
