<?xml version="1.0" encoding="UTF-8"?>
<!--
  Zynk XML products (Export Stock Records) to Amazon quantities (JSON_LISTINGS_FEED messages).

  One PATCH per product on /attributes/fulfillment_availability with
  quantity = free stock = max(0, floor(QtyInStock - QtyAllocated)); a missing (nil) quantity counts as 0.

  Sage keeps quantities as binary doubles, and XSLT 1.0 numbers are doubles too, so 2.3 - 0.3 comes out as
  1.9999999999999998 and a plain floor() would send Amazon one unit less than the seller has. Each quantity is
  therefore taken in whole millionths first (round(q x 1000000): exact for the up to 6 decimal places Sage
  shows), and the free stock is floored from their exact difference.
  SKUs in FBASkus (";SKU;SKU;", the FBA_SKUS setting) or in FBAReportSkus (the same form: the FBA SKUs of Amazon's
  FBA inventory report read at FBAReportAsOf) are Amazon's to stock: no seller-fulfilled quantity is sent for
  them, because a DEFAULT quantity on an FBA offer can switch it to seller-fulfilled. They become <skipped>, with
  the reason and where the SKU was known from.
  The output is the generic XML form that becomes JSON (json:array makes an array, json:type a number);
  the header and messageId are added by the upload step.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:json="urn:amazon-sage:json">
  <xsl:output method="xml" encoding="utf-8" indent="yes"/>

  <xsl:param name="MerchantID" select="''"/>
  <xsl:param name="FulfillmentChannel" select="'DEFAULT'"/>
  <xsl:param name="ProductType" select="'PRODUCT'"/>
  <xsl:param name="FBASkus" select="''"/>
  <xsl:param name="FBAReportSkus" select="''"/>
  <xsl:param name="FBAReportAsOf" select="''"/>

  <xsl:template match="/">
    <Feed>
      <xsl:apply-templates select="Company/Products/Product"/>
    </Feed>
  </xsl:template>

  <xsl:template name="quantity">
    <xsl:param name="value"/>
    <xsl:choose>
      <xsl:when test="string(number($value)) = 'NaN'">0</xsl:when>
      <xsl:otherwise><xsl:value-of select="number($value)"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="Product">
    <xsl:choose>
      <xsl:when test="$FBASkus != '' and contains($FBASkus, concat(';', Sku, ';'))">
        <skipped sku="{Sku}">FBA SKU (FBA_SKUS): Amazon holds its stock, so no seller-fulfilled quantity is sent; a DEFAULT quantity on an FBA offer could switch it to seller-fulfilled.</skipped>
      </xsl:when>
      <xsl:when test="$FBAReportSkus != '' and contains($FBAReportSkus, concat(';', Sku, ';'))">
        <skipped sku="{Sku}">FBA SKU (Amazon's FBA inventory report of <xsl:value-of select="$FBAReportAsOf"/>): Amazon holds its stock, so no seller-fulfilled quantity is sent; a DEFAULT quantity on an FBA offer could switch it to seller-fulfilled.</skipped>
      </xsl:when>
      <xsl:otherwise><xsl:apply-templates select="." mode="quantity"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="Product" mode="quantity">
    <xsl:variable name="in-stock"><xsl:call-template name="quantity"><xsl:with-param name="value" select="QtyInStock"/></xsl:call-template></xsl:variable>
    <xsl:variable name="allocated"><xsl:call-template name="quantity"><xsl:with-param name="value" select="QtyAllocated"/></xsl:call-template></xsl:variable>
    <xsl:variable name="free-millionths" select="round($in-stock * 1000000) - round($allocated * 1000000)"/>
    <xsl:variable name="free" select="floor($free-millionths div 1000000)"/>
    <message>
      <sku><xsl:value-of select="Sku"/></sku>
      <operationType>PATCH</operationType>
      <productType><xsl:value-of select="$ProductType"/></productType>
      <patches json:array="true">
        <op>merge</op>
        <path>/attributes/fulfillment_availability</path>
        <value json:array="true">
          <fulfillment_channel_code><xsl:value-of select="$FulfillmentChannel"/></fulfillment_channel_code>
          <quantity json:type="integer">
            <xsl:choose>
              <xsl:when test="$free &gt; 0"><xsl:value-of select="format-number($free, '0')"/></xsl:when>
              <xsl:otherwise>0</xsl:otherwise>
            </xsl:choose>
          </quantity>
        </value>
      </patches>
    </message>
  </xsl:template>
</xsl:stylesheet>
